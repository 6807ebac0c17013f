"""Housekeeping of the provider: dead codes and token families are deleted in two statements,
by `supplychain oidc purge` and the scheduler's job, and what reuse detection needs stays: a
rotated refresh token is still recognised (and revokes its family) while the family lives."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from supplychain.auth import digest
from supplychain.extensions import db
from supplychain.identity.purge import GRACE, purge
from supplychain.models import OidcCode, OidcToken
from supplychain.models.base import utcnow
from supplychain.scheduler import OIDC_PURGE_JOB, purge_oidc, start_scheduler, stop_scheduler
from tests.api.oidc_helpers import Rp, grant, register
from tests.ui.conftest import Web

pytestmark = pytest.mark.committed
LONG_AGO = GRACE + timedelta(hours=1)


@pytest.fixture
def rp(app, world) -> Rp:
    client = register(world)
    grant(world, "portal", "tier", "D1")
    web = Web(app)
    web.login(world.parties["D1a"].email)
    return Rp(web, client["client_id"], client["client_secret"])


def _token(secret: str) -> OidcToken:
    row = db.session.scalar(
        select(OidcToken).where(
            (OidcToken.access_hash == digest(secret)) | (OidcToken.refresh_hash == digest(secret))
        )
    )
    assert row is not None
    return row


def _age(app, secrets: list[str], *, revoked: timedelta | None = None, expired=True) -> int:
    """Move the token rows of `secrets` (and their code) into the past; returns their code id."""
    with app.app_context():
        now = utcnow()
        rows = [_token(s) for s in secrets]
        for row in rows:
            if expired:
                row.access_expires_at = now - LONG_AGO
                row.refresh_expires_at = now - LONG_AGO
            if revoked is not None:
                row.revoked_at = now - revoked
        code_id = rows[0].code_id
        db.session.get(OidcCode, code_id).expires_at = now - LONG_AGO
        db.session.commit()
        db.session.remove()
    return code_id


def _exists(app) -> tuple[set[int], set[int]]:
    """(code ids, token code ids) left."""
    with app.app_context():
        codes = set(db.session.scalars(select(OidcCode.id)))
        families = set(db.session.scalars(select(OidcToken.code_id)))
        db.session.remove()
    return codes, families


def test_purge_deletes_dead_families_and_codes_and_keeps_what_reuse_needs(app, rp, count_queries):
    # Revoked long ago: goes. Expired long ago, never revoked: goes.
    revoked = _age(app, [rp.tokens()["access_token"]], revoked=LONG_AGO)
    expired = _age(app, [rp.tokens()["refresh_token"]])
    # Revoked an hour ago: within the grace, stays.
    recent = _age(app, [rp.tokens()["access_token"]], revoked=timedelta(hours=1), expired=False)
    # Rotated long ago, its successor alive: the family stays whole, the old token included.
    first = rp.tokens()
    second = rp.refresh(first["refresh_token"]).json()
    rotated = _age(app, [first["refresh_token"]], revoked=LONG_AGO)
    # Codes never exchanged: one expired long ago (goes), one just now (stays).
    rp.code()
    with app.app_context():
        old_code = db.session.scalars(select(OidcCode).order_by(OidcCode.id.desc())).first()
        old_code.expires_at = utcnow() - LONG_AGO
        old_id = old_code.id
        db.session.commit()
        db.session.remove()
    rp.code()
    codes_before, _ = _exists(app)
    fresh_code = max(codes_before)

    with app.app_context(), count_queries() as counter:
        purged = purge(db.session, utcnow())
        db.session.commit()
        db.session.remove()
    writes = [s for s in counter.statements if s.lstrip().upper().startswith("DELETE")]
    assert len(writes) == 2 and counter.count <= 3  # two DELETEs (and a BEGIN on SQLite)
    assert (purged.codes, purged.tokens) == (3, 2)
    codes, families = _exists(app)
    assert families == {recent, rotated}
    assert codes == {recent, rotated, fresh_code}
    assert revoked not in codes and expired not in codes and old_id not in codes

    # The rotated refresh token is still known: its reuse is refused and revokes the family.
    reuse = rp.refresh(first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert rp.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    assert rp.introspect(second["access_token"]).json() == {"active": False}


def test_a_family_goes_whole_once_all_of_it_is_dead(app, rp):
    first = rp.tokens()
    second = rp.refresh(first["refresh_token"]).json()
    family = _age(app, [first["refresh_token"], second["refresh_token"]], revoked=LONG_AGO)
    with app.app_context():
        purged = purge(db.session, utcnow())
        db.session.commit()
        db.session.remove()
    assert (purged.codes, purged.tokens) == (1, 2)
    codes, families = _exists(app)
    assert family not in codes and family not in families
    # Gone: an unknown token now, refused like any other.
    assert rp.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"


def test_the_command_purges(app, rp, database_url):
    family = _age(app, [rp.tokens()["access_token"]], revoked=LONG_AGO)
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": app.config["SECRET_KEY"]}
    done = subprocess.run(
        [sys.executable, "-c", "from supplychain.cli import main; main()", "oidc", "purge"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deleted 1 codes and 1 tokens"
    codes, families = _exists(app)
    assert family not in codes and family not in families


def test_the_purge_job_is_declared_and_commits(app, rp):
    scheduler = start_scheduler(app)
    try:
        job = scheduler.get_job(OIDC_PURGE_JOB)
        assert job is not None and job.coalesce is True and job.misfire_grace_time is None
    finally:
        stop_scheduler(scheduler)
        app.extensions.pop("supplychain_scheduler", None)
    family = _age(app, [rp.tokens()["access_token"]], revoked=LONG_AGO)
    purge_oidc()
    codes, families = _exists(app)
    assert family not in codes and family not in families
