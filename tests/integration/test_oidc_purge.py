"""Housekeeping of the provider: dead codes, token families and long-ended app sessions are
deleted in three statements, by `supplychain oidc purge` and the scheduler's job, and what reuse
detection needs stays: a rotated refresh token is still recognised (and revokes its family) while
the family lives, and a session keeps its row while a code or token refers to it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from supplychain.auth import digest
from supplychain.extensions import db
from supplychain.identity.purge import GRACE, SESSION_RETENTION, purge
from supplychain.models import Delivery, OidcCode, OidcLogout, OidcSession, OidcToken
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
    assert len(writes) == 3 and counter.count <= 4  # three DELETEs (and a BEGIN on SQLite)
    assert (purged.codes, purged.tokens, purged.sessions) == (3, 2, 0)
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
    assert done.stdout.strip() == "deleted 1 codes, 1 tokens and 0 sessions"
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


# --- app sessions ended long ago ------------------------------------------------------------------


def _session_of(app, secret: str) -> int:
    with app.app_context():
        found = _token(secret).session_id
        db.session.remove()
    return found


def _end(app, session_ids: list[int], ago: timedelta) -> None:
    """Date the sessions' end (and their tokens' death) `ago` in the past."""
    with app.app_context():
        now = utcnow()
        for row in db.session.scalars(select(OidcSession).where(OidcSession.id.in_(session_ids))):
            row.ended_at = now - ago
        for row in db.session.scalars(
            select(OidcToken).where(OidcToken.session_id.in_(session_ids))
        ):
            row.revoked_at = now - ago
            row.access_expires_at = row.refresh_expires_at = now - ago
        for row in db.session.scalars(select(OidcCode).where(OidcCode.session_id.in_(session_ids))):
            row.expires_at = now - ago
        db.session.commit()
        db.session.remove()


def _sessions(app) -> set[int]:
    with app.app_context():
        found = set(db.session.scalars(select(OidcSession.id)))
        db.session.remove()
    return found


def _browser(app, world, person: str, client: dict) -> Rp:
    web = Web(app)
    web.login(world.parties[person].email)
    return Rp(web, client["client_id"], client["client_secret"])


def test_sessions_ended_a_month_ago_go_once_nothing_refers_to_them(app, world):
    client = register(world, backchannel_logout_uri="https://portal.example/logout")
    grant(world, "portal", "tier", "D1")
    # Signed out more than SESSION_RETENTION ago: the logout queued for the app stays.
    gone_rp = _browser(app, world, "D1a", client)
    gone = _session_of(app, gone_rp.tokens()["access_token"])
    assert gone_rp.web.post("/logout").status_code == 200
    _end(app, [gone], SESSION_RETENTION + timedelta(days=1))
    # Ended as long ago, but a family of its tokens still counts (revoked an hour ago).
    held_rp = _browser(app, world, "D1a", client)
    held_secret = held_rp.tokens()["access_token"]
    held = _session_of(app, held_secret)
    _end(app, [held], SESSION_RETENTION + timedelta(days=1))
    _age(app, [held_secret], revoked=timedelta(hours=1), expired=False)
    # Ended within the retention; and one that lives.
    recent_rp = _browser(app, world, "D1b", client)
    recent = _session_of(app, recent_rp.tokens()["access_token"])
    _end(app, [recent], SESSION_RETENTION - timedelta(days=1))
    live = _session_of(app, _browser(app, world, "D1b", client).tokens()["access_token"])
    with app.app_context():
        logouts = set(db.session.scalars(select(OidcLogout.id)))
        deliveries = set(
            db.session.scalars(select(Delivery.id).where(Delivery.endpoint_id.in_(logouts)))
        )
        db.session.remove()
    assert logouts and deliveries

    with app.app_context():
        purged = purge(db.session, utcnow())
        db.session.commit()
        db.session.remove()
    assert (purged.codes, purged.tokens, purged.sessions) == (2, 2, 1)
    assert _sessions(app) == {held, recent, live}
    with app.app_context():
        assert set(db.session.scalars(select(OidcLogout.id))) == logouts
        assert (
            set(db.session.scalars(select(Delivery.id).where(Delivery.endpoint_id.in_(logouts))))
            == deliveries
        )
        db.session.remove()
    # Once the held family has died for the grace too, its session goes on the next run.
    _age(app, [held_secret], revoked=LONG_AGO)
    with app.app_context():
        assert purge(db.session, utcnow()).sessions == 1
        db.session.commit()
        db.session.remove()
    assert _sessions(app) == {recent, live}


def test_a_purged_session_comes_back_the_same_for_its_app(app, world):
    """Revoking the grant ends the app session while the page sign-in lives; purged a month later,
    sharing the app again makes the session anew with the same `sub` and `sid`."""
    client = register(world)
    shared = grant(world, "portal", "tier", "D1")
    rp = _browser(app, world, "D1a", client)
    before = rp.id_token_claims(rp.tokens()["id_token"])
    ended = _sessions(app)
    r = world.api.delete(world.path(f"/grants/{shared['id']}"), token=world.owner.token)
    assert r.status_code == 204, r.text
    _end(app, list(ended), SESSION_RETENTION + timedelta(days=1))
    _age_all_codes(app)
    with app.app_context():
        assert purge(db.session, utcnow()).sessions == 1
        db.session.commit()
        db.session.remove()
    assert _sessions(app) == set()
    grant(world, "portal", "tier", "D1")
    after = rp.id_token_claims(rp.tokens()["id_token"])
    assert (after["sub"], after["sid"]) == (before["sub"], before["sid"])
    assert len(_sessions(app)) == 1


def _age_all_codes(app) -> None:
    with app.app_context():
        for row in db.session.scalars(select(OidcCode)):
            row.expires_at = utcnow() - LONG_AGO
        db.session.commit()
        db.session.remove()
