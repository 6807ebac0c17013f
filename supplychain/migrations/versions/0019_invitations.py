"""invitations: codes mailed, resent and expiring; no code kept in clear anywhere

A person's current invitation: which chain and org invited them, when the code was issued and
mailed, when it expires, and the salt the code is derived from (HMAC of SECRET_KEY and the salt;
the user row keeps only the code's SHA-256, as before).

Existing data: people invited before this revision keep their codes (hashed already), which
now expire SUPPLYCHAIN_INVITE_DAYS' default (14 days) after this upgrade; they have no salt, so
their codes are shown nowhere again. Codes that were kept in clear are removed: the answers kept
for Idempotency-Key replays (member, contact and import creation) and WeCom import jobs' invite
lists lose their `invite_code` values (a replay answers them as null, getresult shows null).
A downgrade drops the table; the removed clear codes do not come back.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-07 17:45:00
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DEFAULT_INVITE_DAYS = 14


def _null_codes(value: Any) -> tuple[Any, bool]:
    """`value` with every `invite_code` nulled, and whether one was there."""
    changed = False
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "invite_code" and item is not None:
                out[key], changed = None, True
            else:
                out[key], inner = _null_codes(item)
                changed = changed or inner
        return out, changed
    if isinstance(value, list):
        items = []
        for item in value:
            new, inner = _null_codes(item)
            items.append(new)
            changed = changed or inner
        return items, changed
    return value, False


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("user_id", BigId, autoincrement=False, nullable=False),
        sa.Column("chain_id", BigId, nullable=True),
        sa.Column("inviter_org_id", BigId, nullable=True),
        sa.Column("invited_by", BigId, nullable=True),
        sa.Column("salt", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["chains.id"], name=op.f("fk_invitations_chain_id_chains")
        ),
        sa.ForeignKeyConstraint(
            ["inviter_org_id"], ["orgs.id"], name=op.f("fk_invitations_inviter_org_id_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_invitations_invited_by_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_invitations")),
    )
    bind = op.get_bind()
    users = sa.table(
        "users",
        sa.column("id", BigId),
        sa.column("invite_code_hash", sa.String()),
        sa.column("password_hash", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    contacts = sa.table("contacts", sa.column("chain_id", BigId), sa.column("user_id", BigId))
    chains = sa.table("chains", sa.column("id", BigId), sa.column("owner_org_id", BigId))
    invitations = sa.table(
        "invitations",
        sa.column("user_id", BigId),
        sa.column("chain_id", BigId),
        sa.column("inviter_org_id", BigId),
        sa.column("invited_by", BigId),
        sa.column("salt", sa.String()),
        sa.column("issued_at", sa.DateTime(timezone=True)),
        sa.column("sent_at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    first_chain = (
        sa.select(contacts.c.user_id, sa.func.min(contacts.c.chain_id).label("chain_id"))
        .group_by(contacts.c.user_id)
        .subquery()
    )
    pending = bind.execute(
        sa.select(users.c.id, users.c.created_at, first_chain.c.chain_id, chains.c.owner_org_id)
        .outerjoin(first_chain, first_chain.c.user_id == users.c.id)
        .outerjoin(chains, chains.c.id == first_chain.c.chain_id)
        .where(users.c.invite_code_hash.is_not(None), users.c.password_hash.is_(None))
    ).all()
    expires = datetime.now(UTC) + timedelta(days=DEFAULT_INVITE_DAYS)
    if pending:
        bind.execute(
            invitations.insert(),
            [
                {
                    "user_id": user_id,
                    "chain_id": chain_id,
                    "inviter_org_id": owner_org_id,
                    "invited_by": None,
                    "salt": None,
                    "issued_at": created_at,
                    "sent_at": None,
                    "expires_at": expires,
                }
                for user_id, created_at, chain_id, owner_org_id in pending
            ],
        )

    records = sa.table(
        "idempotency_records", sa.column("id", BigId), sa.column("response_body", sa.Text())
    )
    for record_id, body in bind.execute(
        sa.select(records.c.id, records.c.response_body).where(
            records.c.response_body.like('%"invite_code"%')
        )
    ).all():
        try:
            answer = json.loads(body)
        except ValueError:
            continue
        cleaned, changed = _null_codes(answer)
        if changed:
            bind.execute(
                records.update()
                .where(records.c.id == record_id)
                .values(response_body=json.dumps(cleaned, ensure_ascii=False))
            )

    jobs = sa.table("wecom_import_jobs", sa.column("id", BigId), sa.column("result", sa.JSON()))
    for job_id, result in bind.execute(
        sa.select(jobs.c.id, jobs.c.result).where(jobs.c.result.is_not(None))
    ).all():
        cleaned, changed = _null_codes(result)
        if changed:
            bind.execute(jobs.update().where(jobs.c.id == job_id).values(result=cleaned))


def downgrade() -> None:
    op.drop_table("invitations")
