"""Reconciliation: schedule, runs of tier workbooks, downloads, partners' statements."""

from __future__ import annotations

import tempfile

from flask import current_app, jsonify, request, send_file, url_for
from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, idempotent, paged_rows
from supplychain.db import Transaction, transaction
from supplychain.extensions import db
from supplychain.schemas import reconciliation as s
from supplychain.services.reconciliation import (
    board,
    confirmations,
    disputes,
    ledger,
    runs,
    schedules,
    statement_view,
    statements,
)

blp = authenticated_blueprint(
    "reconciliation", __name__, url_prefix="/chains", description="Reconciliation workbooks"
)
BLUEPRINTS = (blp,)
XLSX_RESPONSE = {
    "200": {
        "description": "The workbook",
        "content": {ledger.XLSX: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _prefers_async(prefer: str) -> bool:
    """True when a `Prefer` header (RFC 7240) asks for `respond-async`."""
    return any(
        part.split(";", 1)[0].split("=", 1)[0].strip().lower() == "respond-async"
        for part in prefer.split(",")
    )


def _schedule_view(schedule, chain):
    return {
        "frequency": schedule.frequency,
        "day": schedule.day,
        "hour": schedule.hour,
        "tiers": schedule.tiers,
        "enabled": schedule.enabled,
        "timezone": chain.timezone,
        "updated_at": schedule.updated_at,
    }


@blp.route("/<id:cid>/reconciliation/schedule")
class Schedule(MethodView):
    @blp.response(200, s.ScheduleSchema)
    def get(self, cid):
        """The chain's reconciliation schedule (owner admins)."""
        access = access_to(cid)
        return _schedule_view(schedules.get_schedule(db.session, access), access.chain)

    @blp.changes(s.ScheduleInSchema, s.ScheduleSchema)
    def put(self, body, cid):
        """Set the schedule: monthly (day, hour) or weekly (ISO weekday, hour), chain timezone."""
        access = access_to(cid)
        schedule = schedules.put_schedule(db.session, access, schedules.ScheduleSpec(**body))
        return _schedule_view(schedule, access.chain)


@blp.route("/<id:cid>/reconciliation/runs")
class Runs(MethodView):
    @blp.paged(s.RunQuerySchema, s.RunPageSchema)
    def get(self, query, cid):
        """Runs of the chain, newest first (owner)."""
        stmt = runs.runs_query(access_to(cid), query.get("tier"), query.get("period"))
        return paged_rows(stmt, query)

    # The run commits step by step in sessions of its own: this request's session only reads.
    @transaction(Transaction.OWN)
    @idempotent
    @blp.arguments(s.RunCreateSchema)
    @blp.response(201, s.RunSchema, description="Produced (succeeded or failed)")
    @blp.alt_response(200, schema=s.RunSchema, description="An existing run for that period")
    @blp.alt_response(
        202,
        schema=s.RunSchema,
        description="With `Prefer: respond-async`: claimed and queued; poll the run",
    )
    @blp.alt_response(
        503,
        description="With `Prefer: respond-async`, when this server has 8 workbooks waiting "
        "already: nothing was claimed; ask again after `Retry-After` seconds",
    )
    def post(self, body, cid):
        """Produce a tier's workbook for a period now; an existing run is returned (200)
        unless `force` asks for a new revision.

        A large tier takes a while (about a minute for 100 000 lines). Send
        `Prefer: respond-async` (RFC 7240) to get 202 at once with the queued run and its
        `Location`; GET it until `status` is `succeeded` or `failed`."""
        background = _prefers_async(request.headers.get("Prefer", ""))
        run, created = runs.request_run(
            db.session,
            db.engine,
            current_app.config["REPORTS_DIR"],
            access_to(cid),
            body["tier"],
            body["period"],
            body["force"],
            wait=not background,
        )
        if not created:
            return run, 200
        if not background:
            return run, 201
        location = url_for(f"{blp.name}.{RunItem.__name__}", cid=cid, rid=run.id)
        return run, 202, {"Location": location, "Preference-Applied": "respond-async"}


@blp.route("/<id:cid>/reconciliation/runs/<id:rid>")
class RunItem(MethodView):
    @blp.response(200, s.RunSchema)
    def get(self, cid, rid):
        """One run (owner)."""
        return runs.get_run(db.session, access_to(cid), rid)


@blp.route("/<id:cid>/reconciliation/runs/<id:rid>/file")
class RunFile(MethodView):
    @blp.doc(responses=XLSX_RESPONSE)
    def get(self, cid, rid):
        """Download a run's workbook (owner)."""
        path, name = runs.run_file(
            db.session, access_to(cid), rid, current_app.config["REPORTS_DIR"]
        )
        return send_file(path, mimetype=ledger.XLSX, as_attachment=True, download_name=name)


STATEMENT_RESPONSE = {
    "200": {
        "description": "The statement: xlsx, or JSON with `Accept: application/json`",
        "content": {
            ledger.XLSX: {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": s.StatementSchema},
        },
    }
}


@blp.route("/<id:cid>/reconciliation/statements")
class StatementBoard(MethodView):
    @blp.paged(s.BoardQuerySchema, s.BoardPageSchema)
    def get(self, query, cid):
        """Every org's statement status for a period (owner; `tier` narrows to one tier): who
        confirmed, who disputed, who has not answered. A partner sees its own row only."""
        period = query.pop("period")
        return board.statement_board(db.session, access_to(cid), period, **query).envelope()


@blp.route("/<id:cid>/reconciliation/statements/<period>")
class Statement(MethodView):
    @transaction(Transaction.WRITES)  # downloading a statement writes an audit event
    @blp.arguments(s.StatementQuerySchema, location="query")
    @blp.doc(responses=STATEMENT_RESPONSE)
    def get(self, query, cid, period):
        """An org's statement for a period: a partner its own, the owner any member's. As xlsx,
        or with `Accept: application/json` its figures, `status`, `version` and disputes.

        It holds the org's orders of the period (by order date) with its counterparties one tier
        nearer the core (`counterparty_tier`: a D2 org's with D1 orgs, a D1 or U1 org's with the
        core), the lines its tier's workbook lists for it; its orders with orgs farther from the
        core are in their statements. An org in no upstream or downstream tier (the core, an
        unlinked org) has no counterparty nearer the core: its statement is empty
        (`counterparty_tier` null, `scope` says so). Tiers are the chain's as its links are now."""
        if request.accept_mimetypes.best_match([ledger.XLSX, "application/json"]) == (
            "application/json"
        ):
            view = statement_view.statement_view(
                db.session, access_to(cid), period, query.get("org_id")
            )
            return jsonify(s.StatementSchema().dump(view))
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - send_file closes (and so deletes) it
        try:
            name = statements.write_statement(
                db.session, access_to(cid), period, query.get("org_id"), handle
            )
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        return send_file(handle, mimetype=ledger.XLSX, as_attachment=True, download_name=name)


@blp.route("/<id:cid>/reconciliation/statements/<period>/confirm")
class StatementConfirm(MethodView):
    @blp.changes(s.ConfirmInSchema, s.StatementSchema)
    def post(self, body, cid, period):
        """The partner confirms the `version` of its statement it saw (409 when the figures
        changed since, or while a dispute is open). The owner may not confirm for it (403)."""
        return confirmations.confirm_statement(
            db.session, access_to(cid), period, body["version"], body["org_id"]
        )


@blp.route("/<id:cid>/reconciliation/statements/<period>/disputes")
class StatementDisputes(MethodView):
    @blp.creates(s.DisputeInSchema, s.DisputeSchema)
    def post(self, body, cid, period):
        """The partner disputes lines of the `version` it saw; each line must be in the
        statement (422 naming it). The statement reads `disputed` until the owner resolves."""
        lines = [disputes.DisputedLine(**line) for line in body["lines"]]
        dispute = disputes.open_dispute(
            db.session,
            access_to(cid),
            period,
            body["version"],
            lines,
            body["note"],
            body["org_id"],
        )
        return statement_view.dispute_view(dispute)


@blp.route("/<id:cid>/reconciliation/disputes/<id:did>")
class DisputeItem(MethodView):
    @blp.response(200, s.DisputeSchema)
    def get(self, cid, did):
        """One dispute: the owner any, a partner its own."""
        return statement_view.dispute_view(disputes.get_dispute(db.session, access_to(cid), did))


@blp.route("/<id:cid>/reconciliation/disputes/<id:did>/resolve")
class DisputeResolve(MethodView):
    @blp.changes(s.ResolveInSchema, s.DisputeSchema)
    def post(self, body, cid, did):
        """The owner's admin or staff accepts or rejects a dispute with a note (409 when it is
        resolved already); the statement is `open` again for the partner to confirm."""
        dispute = disputes.resolve_dispute(
            db.session, access_to(cid), did, body["resolution"], body["note"]
        )
        return statement_view.dispute_view(dispute)
