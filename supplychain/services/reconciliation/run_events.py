"""What a reconciliation run's change of state leaves behind, in the same transaction: the audit
event, the owner's event when the run ends, the statements it makes ready when it succeeds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from supplychain.models import Chain, ReconciliationRun
from supplychain.services.audit import Author, record_event
from supplychain.services.events import publish_about
from supplychain.services.reconciliation.board import announce_ready


def record_run_change(session: Session, run: ReconciliationRun, author: Author | None) -> None:
    """The audit event of a run's new state, in the transaction that sets it; when the run ends,
    the owner's event, and when it succeeded, the statements it makes ready."""
    record_event(
        session,
        author,
        f"reconciliation.run.{run.status}",
        "reconciliation_run",
        run.id,
        chain_id=run.chain_id,
        data={
            "tier": run.tier,
            "period": run.period,
            "revision": run.revision,
            "trigger": run.trigger,
            "rows": run.rows,
            "error": run.error,
        },
    )
    if run.status in ("succeeded", "failed"):
        _publish_run(session, run)
    if run.status == "succeeded":
        # Each org of the tier may now read and answer its statement for the period.
        announce_ready(session, run)


def _publish_run(session: Session, run: ReconciliationRun) -> None:
    """Tell the chain owner (only) that a run finished, with the same transaction as its status."""
    owner = select(Chain.owner_org_id).where(Chain.id == run.chain_id)
    publish_about(
        session,
        "reconciliation_run",
        run,
        type=f"reconciliation.run.{run.status}",
        data={
            "id": str(run.id),
            "tier": run.tier,
            "period": run.period,
            "revision": run.revision,
            "trigger": run.trigger,
            "rows": run.rows,
            "orgs": run.orgs,
            "error": run.error,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        },
        org_ids=owner,
    )
