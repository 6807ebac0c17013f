"""0019 (invitations): people invited before it keep their codes, now with an expiry; codes
once kept in clear (Idempotency-Key replays, WeCom import jobs) are removed."""

from __future__ import annotations

import json
from datetime import timedelta

from alembic import command
from sqlalchemy import JSON, column, create_engine, select, table, text

from supplychain.migrate import alembic_config, upgrade_database
from supplychain.models.base import UTCDateTime, utcnow
from tests.integration.test_migrations import _schema_drift, scratch_url  # noqa: F401

CODE = "ABCD-EFGH-JKLM-NPQR"


def test_upgrade_to_0019_gives_old_invitations_an_expiry_and_removes_clear_codes(scratch_url):  # noqa: F811
    upgrade_database(scratch_url, "0017")
    engine = create_engine(scratch_url)
    stamp = "2026-01-01 00:00:00"
    answer = {"org_id": "2", "contacts": [{"user_id": "2", "invite_code": CODE, "name": "B"}]}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orgs (id, name, kind, created_at) VALUES "
                f"(1, 'Owner', 'manufacturer', '{stamp}'), (2, 'Dealer', 'dealer', '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (id, org_id, email, name, role, password_hash, "
                "invite_code_hash, created_at) VALUES "
                f"(1, 1, 'a@x.example', 'A', 'admin', 'pw', NULL, '{stamp}'),"
                f" (2, 2, 'b@x.example', 'B', 'admin', NULL, 'hash-b', '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO chains (id, name, owner_org_id, currency, timezone, graph_version,"
                f" created_at) VALUES (1, 'C', 1, 'CNY', 'Asia/Shanghai', 1, '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO contacts (id, chain_id, org_id, user_id, created_at) VALUES "
                f"(1, 1, 2, 2, '{stamp}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO idempotency_records (id, user_id, key, request_hash, status_code,"
                " response_body, created_at) VALUES (1, 1, 'k', 'h', 201, :body, :at),"
                " (2, 1, 'k2', 'h', 201, '{\"name\": \"no code here\"}', :at)"
            ),
            {"body": json.dumps(answer), "at": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO wecom_import_jobs (id, jobid, chain_id, org_id, user_id, status,"
                " result, created_at) VALUES (1, 'job', 1, 1, 1, 3, :result, :at)"
            ),
            {
                "result": json.dumps(
                    {"import_status": 1, "invite_list": [{"custom_id": "D", "invite_code": CODE}]}
                ),
                "at": stamp,
            },
        )
    upgrade_database(scratch_url)
    invitations = table(
        "invitations",
        column("user_id"),
        column("chain_id"),
        column("inviter_org_id"),
        column("salt"),
        column("sent_at", UTCDateTime()),
        column("expires_at", UTCDateTime()),
    )
    records = table("idempotency_records", column("id"), column("response_body"))
    jobs = table("wecom_import_jobs", column("result", JSON()))
    with engine.begin() as conn:
        [row] = conn.execute(select(invitations)).all()
        bodies = dict(conn.execute(select(records.c.id, records.c.response_body)).all())
        [result] = conn.execute(select(jobs.c.result)).scalars().all()
    assert (row.user_id, row.chain_id, row.inviter_org_id, row.salt, row.sent_at) == (
        2,
        1,
        1,
        None,
        None,
    )
    assert abs(row.expires_at - (utcnow() + timedelta(days=14))) < timedelta(minutes=1)
    assert CODE not in bodies[1] and json.loads(bodies[1]) == {
        "org_id": "2",
        "contacts": [{"user_id": "2", "invite_code": None, "name": "B"}],
    }
    assert bodies[2] == '{"name": "no code here"}'
    assert result == {"import_status": 1, "invite_list": [{"custom_id": "D", "invite_code": None}]}
    command.downgrade(alembic_config(scratch_url), "0017")
    upgrade_database(scratch_url)
    assert _schema_drift(scratch_url) == []
    engine.dispose()
