"""The demo's activity: notices and orders replayed through the services, dated relative to today.

The seed file's `activity` section tells a short history of the demo chain: notices read,
acknowledged, answered or withdrawn, orders in every status with shipments and receipts, and the
reconciliation runs to produce for it. Every step is done by the service a person would call,
as the person the step names, so the data obeys every rule the product enforces.

Back-dating, explicitly: the services stamp what they write with the current time, but a
demo whose whole history happened in the second it was loaded shows nothing (last month's
reconciliation would be empty). So after each step, the timestamps that step wrote in the demo
chain (`RETIMED`: order and notice times, order history, audit events) are moved to the step's
time in the story, and a due time already past when its document is dated is set after the
service accepted the document without it (the services refuse due times in the past). Nothing
else is changed behind the services' back.

Last month's statements are answered (`answer_statements`) after the reconciliation run made
them ready, so those answers keep the time they are given: confirmations, disputes and the
owner's resolutions go through the statement services, once per period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, exists, select, update
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess, chain_access
from supplychain.auth import Actor
from supplychain.demo.invoices import play_invoices
from supplychain.demo.shipping import play_ship_notice
from supplychain.errors import Invalid
from supplychain.models import (
    AuditEvent,
    Chain,
    Dispute,
    Member,
    Notice,
    NoticeRecipient,
    NoticeResponse,
    Order,
    OrderEvent,
    ReconciliationRun,
    ShipNotice,
    Statement,
)
from supplychain.models.base import utcnow
from supplychain.periods import previous_period
from supplychain.services import notice_answers, notices, order_acks, orders, shipments
from supplychain.services.accounts import find_user_by_email
from supplychain.services.reconciliation import confirmations, disputes, statement_view
from supplychain.services.reconciliation.disputes import DisputedLine
from supplychain.services.reconciliation.runs import execute_run

# The timestamps services write with the current time, per table, and how a row is known to
# belong to the chain: what a step's back-dating moves (see the module docstring).
RETIMED: tuple[tuple[Any, tuple[str, ...], Callable[[int], Any]], ...] = (
    (
        Order,
        ("created_at", "updated_at", "acked_at", "first_acked_at"),
        lambda c: Order.chain_id == c,
    ),
    (OrderEvent, ("at",), lambda c: OrderEvent.order_id.in_(_ids(Order, c))),
    (Notice, ("created_at", "withdrawn_at"), lambda c: Notice.chain_id == c),
    (
        NoticeRecipient,
        ("read_at", "acked_at", "responded_at"),
        lambda c: NoticeRecipient.chain_id == c,
    ),
    (
        NoticeResponse,
        ("created_at", "superseded_at"),
        lambda c: NoticeResponse.notice_id.in_(_ids(Notice, c)),
    ),
    (AuditEvent, ("at",), lambda c: AuditEvent.chain_id == c),
    (ShipNotice, ("created_at", "updated_at"), lambda c: ShipNotice.chain_id == c),
)


def _ids(model: Any, chain_id: int) -> Select:
    return select(model.id).where(model.chain_id == chain_id)


class Story:
    """The demo chain, its people and the clock the story is told against."""

    def __init__(self, session: Session, chain: Chain) -> None:
        self.session = session
        self.chain = chain
        self.tz = ZoneInfo(chain.timezone)
        # The story is anchored on the chain's creation, so the runs made after the load
        # (`run_periods`) name the same "last month" as the orders.
        self.now = chain.created_at
        self.today = self.now.astimezone(self.tz).date()
        self._accesses: dict[str, ChainAccess] = {}
        self._orgs: dict[str, int] = {}

    # --- who ---------------------------------------------------------------------------------

    def access(self, email: str) -> ChainAccess:
        """The chain access of the person with this email, as if they had signed in."""
        if email not in self._accesses:
            user = find_user_by_email(self.session, email)
            if user is None:
                raise Invalid(f"The activity names an unknown person: {email}.", {"by": [email]})
            actor = Actor(user=user, token_id=0)
            self._accesses[email] = chain_access(self.session, actor, self.chain.id)
        return self._accesses[email]

    def org(self, custom_id: str) -> int:
        """The org id of the member with this custom id."""
        if custom_id not in self._orgs:
            org_id = self.session.scalar(
                select(Member.org_id).where(
                    Member.chain_id == self.chain.id, Member.custom_id == custom_id
                )
            )
            if org_id is None:
                raise Invalid(
                    f"The activity names an unknown member: {custom_id}.",
                    {"counterparty": [custom_id]},
                )
            self._orgs[custom_id] = org_id
        return self._orgs[custom_id]

    # --- when --------------------------------------------------------------------------------

    def day(self, spec: dict[str, Any]) -> date:
        """A calendar day: {last_month: D}, {days_ago: N} or {in_days: N}, in the chain's zone."""
        if "last_month" in spec:
            period = previous_period("monthly", self.now.astimezone(self.tz))
            return min(period.first + timedelta(days=int(spec["last_month"]) - 1), period.last)
        if "days_ago" in spec:
            return self.today - timedelta(days=int(spec["days_ago"]))
        if "in_days" in spec:
            return self.today + timedelta(days=int(spec["in_days"]))
        raise Invalid(f"Cannot tell the day of {spec}.", {"at": [str(spec)]})

    def moment(self, spec: dict[str, Any]) -> datetime:
        """An instant (UTC): {hours_ago: N}, or a day (see `day`) with a local `time`."""
        if "hours_ago" in spec:
            return self.now - timedelta(hours=float(spec["hours_ago"]))
        local = time.fromisoformat(spec.get("time", "09:00"))
        return datetime.combine(self.day(spec), local, tzinfo=self.tz).astimezone(UTC)

    def past(self, spec: dict[str, Any]) -> datetime:
        """The instant a step happened: never after the story's now."""
        at = self.moment(spec)
        if at > self.now:
            raise Invalid(
                f"A step of the activity lies in the future: {spec}.", {"at": [str(spec)]}
            )
        return at

    @contextmanager
    def happened(self, at: datetime) -> Iterator[None]:
        """Everything written inside happened at `at`: its timestamps in the chain are moved."""
        since = utcnow()
        yield
        self.session.flush()
        for model, columns, in_chain in RETIMED:
            for name in columns:
                column = getattr(model, name)
                self.session.execute(
                    update(model)
                    .where(in_chain(self.chain.id), column >= since)
                    .values({name: at})
                    .execution_options(synchronize_session=False)
                )
        self.session.expire_all()

    def due(self, spec: dict[str, Any] | None) -> tuple[datetime | None, datetime | None]:
        """A due time, split as (what the service may be given, what to set after it)."""
        if spec is None:
            return None, None
        at = self.moment(spec)
        return (at, None) if at > utcnow() else (None, at)

    @staticmethod
    def back_date_due(row: Notice | Order, late_due: datetime | None) -> None:
        """Set the due time `due` held back: one past now, which the services refuse to be
        given, though it lay in the future when the story sent the notice or issued the order."""
        if late_due is not None:
            row.ack_due = late_due


def _decimal(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"Not a number in the activity: {value}.", {field: [str(value)]})


def play_activity(session: Session, chain: Chain, activity: dict[str, Any]) -> None:
    """Replay the seed's notices and orders in the chain, each step dated (only flushes)."""
    story = Story(session, chain)
    for spec in activity.get("notices", []):
        _play_notice(story, spec)
    order_ids = {}
    for number, spec in enumerate(activity.get("orders", []), start=1):
        order_ids[number] = _play_order(story, number, spec)
    for spec in activity.get("ship_notices", []):
        play_ship_notice(story, order_ids, spec)


# --- notices ----------------------------------------------------------------------------------


def _item(story: Story, spec: dict[str, Any]) -> notices.NewItem:
    return notices.NewItem(
        sku=spec["sku"],
        qty=_decimal(spec["qty"], "qty"),
        description=spec.get("description"),
        unit=spec.get("unit"),
        unit_price=_decimal(spec["unit_price"], "unit_price") if "unit_price" in spec else None,
        available_from=story.day(spec["available_from"]) if "available_from" in spec else None,
        available_until=story.day(spec["available_until"]) if "available_until" in spec else None,
    )


def _play_notice(story: Story, spec: dict[str, Any]) -> None:
    session = story.session
    audience = spec.get("audience", {})
    ack_due, late_due = story.due(spec.get("ack_due"))
    with story.happened(story.past(spec["at"])):
        notice = notices.broadcast_notice(
            session,
            story.access(spec["by"]),
            kind=spec["kind"],
            title=spec["title"],
            body=spec.get("body", ""),
            items=[_item(story, item) for item in spec.get("items", [])],
            audience=notices.Audience(
                all=bool(audience.get("all")),
                tiers=list(audience.get("tiers", [])),
                groups=list(audience.get("groups", [])),
                orgs=[story.org(custom_id) for custom_id in audience.get("orgs", [])],
            ),
            requires_ack=bool(spec.get("requires_ack")),
            ack_due=ack_due,
        )
        notice_id = notice.id
        story.back_date_due(notice, late_due)
    for step in spec.get("then", []):
        access = story.access(step["by"])
        with story.happened(story.past(step["at"])):
            if step["do"] == "read":
                notices.open_notice(session, access, notice_id)
            elif step["do"] == "acknowledge":
                notice_answers.acknowledge_notice(session, access, notice_id, step.get("note"))
            elif step["do"] == "respond":
                answers = [(i["sku"], _decimal(i["qty"], "qty")) for i in step["items"]]
                notice_answers.respond_to_notice(
                    session, access, notice_id, answers, step.get("note")
                )
            elif step["do"] == "withdraw":
                notices.withdraw_notice(session, access, notice_id)
            else:
                raise Invalid(f"Unknown notice step: {step['do']}.", {"do": [step["do"]]})


# --- orders -----------------------------------------------------------------------------------


def _play_order(story: Story, index: int, spec: dict[str, Any]) -> int:
    session = story.session
    at = story.past(spec["at"])
    role = spec["role"]
    ack_due, late_due = story.due(spec.get("ack_due"))
    # Numbers as the service makes them (PO/SO, the day), with the demo's sequence at the end.
    number = f"{'PO' if role == 'buyer' else 'SO'}-{at.astimezone(story.tz):%Y%m%d}-D{index:03d}"
    lines = [
        orders.NewLine(
            line_no=line_no,
            sku=line["sku"],
            qty=_decimal(line["qty"], "qty"),
            unit_price=_decimal(line["unit_price"], "unit_price"),
            description=line.get("description"),
            unit=line.get("unit"),
            requested_date=story.day(line["requested"]) if "requested" in line else None,
        )
        for line_no, line in enumerate(spec["lines"], start=1)
    ]
    with story.happened(at):
        order = orders.issue_order(
            session,
            story.access(spec["by"]),
            counterparty_id=story.org(spec["counterparty"]),
            issuer_role=role,
            number=number,
            currency=None,
            ack_due=ack_due,
            lines=lines,
        )
        order_id = order.id
        story.back_date_due(order, late_due)
    for step in spec.get("then", []):
        access = story.access(step["by"])
        when = story.past(step["at"])
        with story.happened(when):
            _order_step(session, access, order_id, step, when)
    return order_id


def _order_step(
    session: Session,
    access: ChainAccess,
    order_id: int,
    step: dict[str, Any],
    at: datetime,
) -> None:
    kind = step["do"]
    if kind == "acknowledge":
        current = orders.get_order(session, access, order_id).order
        answers = None
        if step["decision"] == "lines":
            answers = [
                order_acks.LineAck(
                    line_no=line["line_no"],
                    status=line["status"],
                    qty=_decimal(line["qty"], "qty") if "qty" in line else None,
                    unit_price=(
                        _decimal(line["unit_price"], "unit_price") if "unit_price" in line else None
                    ),
                    reason=line.get("reason"),
                )
                for line in step["lines"]
            ]
        order_acks.acknowledge_order(
            session,
            access,
            order_id,
            version=current.version,
            decision=step["decision"],
            reason=step.get("reason"),
            lines=answers,
        )
    elif kind in ("ship", "receive"):
        left = {
            line.line_no: line.shippable_qty if kind == "ship" else line.receivable_qty
            for line in orders.get_order(session, access, order_id).lines
        }
        record = shipments.record_shipment if kind == "ship" else shipments.record_receipt
        record(session, access, order_id, _movements(step, left), step.get("ref"), at)
    elif kind == "cancel":
        orders.cancel_order(session, access, order_id, step["reason"], None)
    else:
        raise Invalid(f"Unknown order step: {kind}.", {"do": [kind]})


def _movements(step: dict[str, Any], open_qty: dict[int, Decimal]) -> list[shipments.Movement]:
    """The step's lines, or else every line with something left to move, in full."""
    if "lines" in step:
        return [
            shipments.Movement(line_no=line["line_no"], qty=_decimal(line["qty"], "qty"))
            for line in step["lines"]
        ]
    return [shipments.Movement(line_no=no, qty=qty) for no, qty in open_qty.items() if qty > 0]


# --- reconciliation ---------------------------------------------------------------------------


def run_periods(chain: Chain, activity: dict[str, Any]) -> list[tuple[str, str]]:
    """The (tier, period) runs the activity asks for; `last_month` is the month before the
    chain was created, in its timezone (the month the story's orders are dated in)."""
    created = chain.created_at.astimezone(ZoneInfo(chain.timezone))
    wanted = []
    for spec in activity.get("runs", []):
        if spec.get("period") != "last_month":
            raise Invalid("Demo runs cover last_month only.", {"period": [str(spec)]})
        wanted.append((spec["tier"], previous_period("monthly", created).label))
    return wanted


def produce_runs(
    engine: Engine, reports_dir: str, chain_id: int, wanted: list[tuple[str, str]]
) -> list[ReconciliationRun]:
    """Produce the demo's runs once each (an existing run is returned as it is). Each run commits
    in its own sessions, so this is called after the activity itself was committed."""
    return [
        execute_run(engine, reports_dir, chain_id, tier, period, trigger="cli")[0]
        for tier, period in wanted
    ]


# --- statements: last month's answers -----------------------------------------------------------


def statements_answered(session: Session, chain_id: int, period: str) -> bool:
    """Whether a partner answered the period's statements already (a confirmation or a dispute):
    the demo's answers are given once."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Statement.chain_id == chain_id,
                    Statement.period == period,
                    Statement.state != "open",
                )
                | exists().where(Dispute.chain_id == chain_id, Dispute.period == period)
            )
        )
    )


def answer_statements(session: Session, chain: Chain, activity: dict[str, Any]) -> int:
    """Last month's statements answered as the activity tells (confirmed, or lines disputed
    and then resolved by the owner), unless the period has answers already; returns the
    answers given. Not back-dated: the statements were made ready by the run, after the load.
    Only flushes."""
    specs = activity.get("statements", [])
    story = Story(session, chain)
    period = previous_period("monthly", story.now.astimezone(story.tz)).label
    if not specs or statements_answered(session, chain.id, period):
        return 0
    for spec in specs:
        access = story.access(spec["by"])
        if access.actor.org_id != story.org(spec["org"]):
            raise Invalid(f"{spec['by']} does not answer for {spec['org']}.", {"by": [spec["by"]]})
        view = statement_view.statement_view(session, access, period, None)
        if spec["do"] == "confirm":
            confirmations.confirm_statement(session, access, period, view["version"])
        elif spec["do"] == "dispute":
            dispute = disputes.open_dispute(
                session,
                access,
                period,
                view["version"],
                [_disputed_line(view["lines"], line) for line in spec["lines"]],
                spec.get("note"),
            )
            for step in spec.get("then", []):
                if step["do"] != "resolve":
                    raise Invalid(f"Unknown dispute step: {step['do']}.", {"do": [step["do"]]})
                disputes.resolve_dispute(
                    session, story.access(step["by"]), dispute.id, step["resolution"], step["note"]
                )
        else:
            raise Invalid(f"Unknown statement step: {spec['do']}.", {"do": [spec["do"]]})
    play_invoices(session, story, period, activity.get("invoices", []))
    session.flush()
    return len(specs)


def _disputed_line(lines: list[dict[str, Any]], spec: dict[str, Any]) -> DisputedLine:
    """A disputed line named by the activity's order (its N-th, numbered `...-DNNN`)."""
    suffix = f"-D{int(spec['order']):03d}"
    number = next(
        (line["order_number"] for line in lines if line["order_number"].endswith(suffix)), None
    )
    if number is None:
        raise Invalid(
            f"Order {spec['order']} of the activity is not in the statement.",
            {"order": [str(spec["order"])]},
        )
    return DisputedLine(
        order_number=number,
        line_no=int(spec["line_no"]),
        field=spec["field"],
        note=spec["note"],
        expected=spec.get("expected"),
    )
