"""The demo network: loaded through the services, idempotent, and usable at once."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import func, select

from supplychain.demo.seeding import DEFAULT_SEED, load_demo
from supplychain.extensions import db
from supplychain.models import Base

SEED = json.loads(Path(DEFAULT_SEED).read_text(encoding="utf-8"))
PASSWORD = SEED["password"]
# The seed's custom ids follow the tiers its links produce (see the "about" note in the file).
PREFIX_TIERS = {"SUP-1": "U1", "SUP-2": "U2", "DLR-0": "D1", "DLR-1": "D2"}


def expected_tier(custom_id: str) -> str:
    return PREFIX_TIERS[custom_id[:5]]


def load(app) -> list[dict]:
    """Run the loader as the CLI does: one transaction, committed by the caller."""
    with app.app_context():
        logins = load_demo(db.session, DEFAULT_SEED)
        db.session.commit()
    return logins


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def sign_in(api, email: str) -> str:
    response = api.post("/auth/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def demo(app, api):
    """The demo network, loaded, with the owner admin signed in and the chain id."""
    logins = load(app)
    token = sign_in(api, SEED["owner"]["admin"]["email"])
    chains = api.get("/chains", token=token).json()["items"]
    assert [c["name"] for c in chains] == [SEED["chain"]["name"]]
    return {"logins": logins, "token": token, "chain_id": chains[0]["id"]}


def members(api, token: str, chain_id: str, **params) -> list[dict]:
    response = api.get(
        f"/chains/{chain_id}/members", params={"page_size": 500, **params}, token=token
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return body["items"]


def test_loading_twice_changes_nothing(app):
    first = load(app)
    counts = row_counts(app)
    assert counts["orgs"] == 1 + len(SEED["members"])
    assert counts["links"] == len(SEED["links"])
    assert counts["visibility_rules"] == len(SEED["rules"])
    assert counts["users"] == 1 + len(SEED["owner"]["staff"]) + sum(
        len(m["contacts"]) for m in SEED["members"]
    )
    second = load(app)
    assert row_counts(app) == counts
    assert second == first
    assert {login["password"] for login in first} == {PASSWORD}
    assert [login["email"] for login in first] == [login["email"] for login in SEED["logins"]]


def test_tiers_match_the_seed(api, demo):
    token, cid = demo["token"], demo["chain_id"]
    every = members(api, token, cid)
    assert len(every) == 1 + len(SEED["members"])
    for tier in ("U1", "U2", "D1", "D2"):
        got = {m["custom_id"] for m in members(api, token, cid, tier=tier)}
        want = {m["custom_id"] for m in SEED["members"] if expected_tier(m["custom_id"]) == tier}
        assert got == want, tier
        assert len(want) >= 8
    assert [m["name"] for m in members(api, token, cid, tier="core")] == [
        SEED["owner"]["org"]["name"]
    ]
    assert members(api, token, cid, tier="unlinked") == []
    groups = {m["custom_id"]: m["group"] for m in every}
    assert groups == {None: None} | {m["custom_id"]: m["group"] for m in SEED["members"]}


def test_diamonds_show_in_impact_analysis(api, demo):
    token, cid = demo["token"], demo["chain_id"]
    by_custom_id = {m["custom_id"]: m["org_id"] for m in members(api, token, cid)}
    by_org_id = {org_id: custom_id for custom_id, org_id in by_custom_id.items()}

    def impact(custom_id: str) -> tuple[set, set]:
        response = api.get(f"/chains/{cid}/members/{by_custom_id[custom_id]}/impact", token=token)
        assert response.status_code == 200, response.text
        body = response.json()
        return (
            {by_org_id[o["org_id"]] for o in body["affected"]},
            {by_org_id[o["org_id"]] for o in body["cut_off"]},
        )

    # DLR-102 also buys from DLR-002, so losing DLR-001 cuts off only DLR-101.
    assert impact("DLR-001") == ({"DLR-101", "DLR-102"}, {"DLR-101"})
    # SUP-101 is also fed by SUP-202; SUP-103 depends on SUP-201 alone.
    affected, cut_off = impact("SUP-201")
    assert {"SUP-101", "SUP-103", None, "DLR-001", "DLR-110"} <= affected
    assert cut_off == {"SUP-103"}


def test_printed_logins_sign_in_with_the_expected_tier(api, demo):
    tiers = {login["email"]: login["tier"] for login in SEED["logins"]}
    assert len(demo["logins"]) == 5
    for login in demo["logins"]:
        response = api.post("/auth/login", {"email": login["email"], "password": login["password"]})
        assert response.status_code == 200, response.text
        me = api.get("/me", token=response.json()["token"])
        assert me.status_code == 200, me.text
        [chain] = me.json()["chains"]
        assert chain["id"] == demo["chain_id"]
        assert chain["tier"] == tiers[login["email"]], login
        assert chain["role"] == ("owner" if chain["tier"] == "core" else "partner")
    staff = api.post(
        "/auth/login", {"email": SEED["logins"][1]["email"], "password": PASSWORD}
    ).json()["user"]
    assert staff["role"] == "staff"


def test_north_china_dealers_see_each_other(api, demo):
    cid = demo["chain_id"]
    beijing = sign_in(api, SEED["logins"][2]["email"])
    seen = {m["custom_id"] for m in members(api, beijing, cid)}
    north = {m["custom_id"] for m in SEED["members"] if "/North China/" in m["group"]}
    assert seen == north | {None}
    assert {"DLR-004", "SUP-101"}.isdisjoint(seen)
    # Without a rule a partner sees only the owner and itself.
    ningbo_sub = sign_in(api, "tian.yu@nb-yinzhou-auto.example")
    assert {m["custom_id"] for m in members(api, ningbo_sub, cid)} == {None, "DLR-106"}


def test_cli_seed_demo_twice(tmp_path: Path):
    cli = Path(sys.executable).with_name("supplychain")
    assert cli.exists(), cli
    database = tmp_path / "demo.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "SUPPLYCHAIN_REPORTS_DIR": str(tmp_path / "reports"),
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(cli), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def orgs() -> int:
        with closing(sqlite3.connect(database)) as conn:
            return conn.execute("SELECT count(*) FROM orgs").fetchone()[0]

    def answers() -> list[tuple]:
        with closing(sqlite3.connect(database)) as conn:
            return conn.execute(
                "SELECT s.state, d.status, d.resolved_at FROM statements s"
                " LEFT JOIN statement_disputes d ON d.statement_id = s.id"
                " WHERE s.state != 'open' OR d.id IS NOT NULL ORDER BY s.id, d.id"
            ).fetchall()

    run("db", "upgrade")
    first = run("seed-demo")
    for login in SEED["logins"]:
        assert login["email"] in first
    assert PASSWORD in first
    count = orgs()
    assert count == 1 + len(SEED["members"])
    # Last month's D1 workbook is made once, after the load committed.
    [workbook] = (tmp_path / "reports").rglob("*.xlsx")
    made = workbook.stat().st_mtime_ns
    # The partners' answers to last month's statements, given once.
    answered = answers()
    assert sorted(row[:2] for row in answered) == [
        ("confirmed", None),
        ("disputed", "open"),
        ("open", "rejected"),
    ]
    second = run("seed-demo")
    assert second == first
    assert orgs() == count
    assert answers() == answered
    assert list((tmp_path / "reports").rglob("*.xlsx")) == [workbook]
    assert workbook.stat().st_mtime_ns == made
