"""A statement's version: the digest of its figures, computed while the order lines stream by,
for one org or for every org of a tier in one pass; and the status each org's statement reads
with (`changed` when what was confirmed is no longer current).

The lines come from `ledger.figure_lines` (or `ledger.order_lines`, through `figures_of`), ordered
by order id and line number, so one org's digest is the same whether it is computed alone or
beside a thousand others.

What was confirmed is judged within the statement's scope as it is now (`judge_confirmations`,
the one home of that rule for the JSON view, confirming, the board and the tier workbook): a
confirmation kept the version and a snapshot of the lines its statement held then, which may
include orders the scope no longer gives to that org (confirmed before statements were scoped,
or before a link change re-tiered an org). Such lines are left out of the snapshot, its digest
is taken again exactly as a version is, and the statement reads `confirmed` when that equals
the current version: only a change to the figures it holds now (or a line new to it) reads
`changed`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from supplychain.models import Dispute, Order, Statement
from supplychain.services.bulk import among_ids

# Positions in a row of `ledger.order_lines` (the statement's full lines).
ORDER_ID, NUMBER, STATUS, CURRENCY, BUYER, SELLER = 0, 1, 3, 5, 6, 7
LINE_NO, SKU, QTY, PRICE, ACK_STATUS, CONFIRMED_QTY, CONFIRMED_PRICE = 10, 11, 14, 15, 17, 19, 20
SHIPPED, RECEIVED = 22, 23
# The figures of a line a partner confirms (and that make `changed` when they move), by name,
# with their position in a full row.
FIGURES = (
    ("status", STATUS),
    ("sku", SKU),
    ("currency", CURRENCY),
    ("qty", QTY),
    ("unit_price", PRICE),
    ("ack_status", ACK_STATUS),
    ("confirmed_qty", CONFIRMED_QTY),
    ("confirmed_price", CONFIRMED_PRICE),
    ("shipped_qty", SHIPPED),
    ("received_qty", RECEIVED),
)
# A figure row (`ledger.figure_lines`, or `figures_of` a full row): order id, order number, line
# number, buyer, seller, then FIGURES in order. Versions are digested from these only.
_IDENTITY = (ORDER_ID, NUMBER, LINE_NO, BUYER, SELLER)
F_ORDER_ID, F_NUMBER, F_LINE_NO, F_BUYER, F_SELLER = range(5)
_FOUR = Decimal("0.0001")


def figures_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The figure row of a full row of `ledger.order_lines`."""
    return tuple(row[i] for i in _IDENTITY) + tuple(row[i] for _, i in FIGURES)


def figure_text(value: Any) -> str | None:
    """A figure as stored in a confirmed snapshot: decimals at 4 places (the same on SQLite and
    PostgreSQL), text as is, None for none."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value.quantize(_FOUR))
    return str(value)


def line_key(row: tuple[Any, ...]) -> str:
    """The key of an order line (a figure row) in a snapshot: order id and line number."""
    return f"{row[F_ORDER_ID]}:{row[F_LINE_NO]}"


def line_figures(row: tuple[Any, ...]) -> list[str | None]:
    """The confirmable figures of one order line (a figure row), as text."""
    return [figure_text(value) for value in row[5:]]


def _seed(chain_id: int, org_id: int, period: str) -> Any:
    return hashlib.sha256(f"statement:{chain_id}:{org_id}:{period}\n".encode())


def _feed_line(digest: Any, key: str, figures: Iterable[str | None]) -> None:
    digest.update((key + "|" + "|".join(v or "" for v in figures) + "\n").encode())


def _feed(digest: Any, row: tuple[Any, ...]) -> None:
    _feed_line(digest, line_key(row), line_figures(row))


def versions_of(
    rows: Iterable[tuple[Any, ...]],
    chain_id: int,
    period: str,
    org_ids: Iterable[int],
    holder: Callable[[int, int], int | None],
) -> dict[int, str]:
    """The current version of each org's statement, from the period's figure rows in one pass:
    each row counts for the org whose statement holds it, `holder(buyer, seller)` (the statement
    scope, `ledger.StatementScope.holder`), if that is one of `org_ids`."""
    digests = {org_id: _seed(chain_id, org_id, period) for org_id in org_ids}
    for row in rows:
        digest = digests.get(holder(row[F_BUYER], row[F_SELLER]))  # type: ignore[arg-type]
        if digest is not None:
            _feed(digest, row)
    return {org_id: digest.hexdigest() for org_id, digest in digests.items()}


# --- what was confirmed, within the scope now --------------------------------------------------


def _key_order(key: str) -> tuple[int, int]:
    order_id, line_no = key.split(":")
    return int(order_id), int(line_no)


def snapshot_version(chain_id: int, org_id: int, period: str, lines: dict[str, list[Any]]) -> str:
    """The version of a confirmed snapshot's lines ({"<order_id>:<line_no>": [order number,
    line number, *figure texts]}), digested exactly as `versions_of` digests the figure rows:
    the same seed, each line's key and figures, by order id then line number."""
    digest = _seed(chain_id, org_id, period)
    for key in sorted(lines, key=_key_order):
        _feed_line(digest, key, lines[key][2:])
    return digest.hexdigest()


@dataclass(frozen=True)
class Judged:
    """A statement's answer judged against its current version: the status it reads with and
    the confirmed lines to compare with the current ones (None: no snapshot). `rescoped` when
    lines the scope no longer gives to the org were left out of the stored snapshot (its stored
    totals then no longer apply: sum `lines`)."""

    status: str
    lines: dict[str, list[Any]] | None
    rescoped: bool = False


def _stale(statement: Statement, version: str | None) -> bool:
    """Confirmed, with a snapshot, for another version than the current one."""
    return (
        statement.state == "confirmed"
        and statement.confirmed_version != version
        and bool(statement.confirmed_figures)
    )


def _lines(statement: Statement) -> dict[str, list[Any]] | None:
    """The confirmed snapshot's lines (None: nothing confirmed)."""
    snapshot = statement.confirmed_figures
    return snapshot.get("lines", {}) if snapshot else None


def _order_parties(
    session: Session, chain_id: int, order_ids: set[int]
) -> dict[int, tuple[int, int]]:
    """order id -> (buyer, seller) of the named orders, in one query (an order's parties never
    change)."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(Order.id, Order.buyer_id, Order.seller_id).where(
            Order.chain_id == chain_id, among_ids(session, Order.id, sorted(order_ids))
        )
    )
    return {order_id: (buyer, seller) for order_id, buyer, seller in rows}


def judge_confirmations(
    session: Session,
    chain_id: int,
    period: str,
    statements: dict[int, Statement],
    versions: dict[int, str],
    holder: Callable[[int, int], int | None],
) -> dict[int, Judged]:
    """Each org's statement row (org id -> row) judged against its current version (`versions`),
    what was confirmed taken within the statement scope now (`holder`, as for `versions_of`):
    a confirmation of another version keeps only the snapshot's lines whose orders the scope
    gives to the org now (an order no longer found stays, and reads as gone), and reads
    `confirmed` if their digest is the current version, `changed` otherwise. At most one query
    (the parties of the snapshots' orders, when some confirmation is of another version),
    whatever the number of orgs."""
    stale = {o: s for o, s in statements.items() if _stale(s, versions.get(o))}
    order_ids = {_key_order(key)[0] for s in stale.values() for key in _lines(s) or {}}
    parties = _order_parties(session, chain_id, order_ids)
    judged = {}
    for org_id, statement in statements.items():
        lines = _lines(statement)
        if org_id not in stale or lines is None:
            judged[org_id] = Judged(statement.status_for(versions.get(org_id, "")), lines)
            continue
        kept = {}
        for key, line in lines.items():
            party = parties.get(_key_order(key)[0])
            if party is None or holder(*party) == org_id:
                kept[key] = line
        same = snapshot_version(chain_id, org_id, period, kept) == versions[org_id]
        judged[org_id] = Judged("confirmed" if same else "changed", kept, len(kept) < len(lines))
    return judged


@dataclass
class StatementState:
    """What the board and the workbook say of one org's statement."""

    org_id: int
    status: str
    version: str
    confirmed_at: datetime | None
    confirmed_by: int | None
    ready_at: datetime | None
    open_disputes: int


def statement_states(
    session: Session,
    chain_id: int,
    period: str,
    versions: dict[int, str],
    holder: Callable[[int, int], int | None],
) -> dict[int, StatementState]:
    """Each org's statement status for the period, in three queries at most whatever the number
    of orgs: no row reads `open`; a confirmation of another version reads `changed` unless it
    stands within the statement scope now (`judge_confirmations`)."""
    rows = {
        s.org_id: s
        for s in session.scalars(
            select(Statement).where(Statement.chain_id == chain_id, Statement.period == period)
        )
    }
    open_counts = dict(
        session.execute(
            select(Dispute.org_id, func.count())
            .where(Dispute.chain_id == chain_id, Dispute.period == period, Dispute.status == "open")
            .group_by(Dispute.org_id)
        ).all()
    )
    named = {org_id: row for org_id, row in rows.items() if org_id in versions}
    judged = judge_confirmations(session, chain_id, period, named, versions, holder)
    states = {}
    for org_id, version in versions.items():
        row = rows.get(org_id)
        states[org_id] = StatementState(
            org_id=org_id,
            status=judged[org_id].status if row else "open",
            version=version,
            confirmed_at=row.confirmed_at if row else None,
            confirmed_by=row.confirmed_by if row else None,
            ready_at=row.ready_at if row else None,
            open_disputes=open_counts.get(org_id, 0),
        )
    return states


def period_disputes(
    session: Session, chain_id: int, period: str, org_ids: Iterable[int]
) -> list[Dispute]:
    """The disputes of the named orgs for a period, open and resolved, oldest first (their
    lines load with them in one more query)."""
    ids = sorted(set(org_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(Dispute)
            .where(Dispute.chain_id == chain_id, Dispute.period == period, Dispute.org_id.in_(ids))
            .order_by(Dispute.id)
        )
    )
