"""Reconciliation: schedule, runs of tier workbooks, downloads, partners' statements."""

from __future__ import annotations

import tempfile

from flask import current_app, request, send_file, url_for
from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, idempotent
from supplychain.db import Transaction, transaction
from supplychain.extensions import db
from supplychain.schemas import reconciliation as s
from supplychain.schemas.common import parse_id
from supplychain.services.pagination import paginate
from supplychain.services.reconciliation import ledger, runs, schedules, statements

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


@blp.route("/<cid>/reconciliation/schedule")
class Schedule(MethodView):
    @blp.response(200, s.ScheduleSchema)
    def get(self, cid):
        """The chain's reconciliation schedule (owner admins)."""
        access = access_to(cid)
        return _schedule_view(schedules.get_schedule(db.session, access), access.chain)

    @blp.arguments(s.ScheduleInSchema)
    @blp.response(200, s.ScheduleSchema)
    def put(self, body, cid):
        """Set the schedule: monthly (day, hour) or weekly (ISO weekday, hour), chain timezone."""
        access = access_to(cid)
        schedule = schedules.put_schedule(db.session, access, schedules.ScheduleSpec(**body))
        return _schedule_view(schedule, access.chain)


@blp.route("/<cid>/reconciliation/runs")
class Runs(MethodView):
    @blp.arguments(s.RunQuerySchema, location="query")
    @blp.response(200, s.RunPageSchema)
    def get(self, query, cid):
        """Runs of the chain, newest first (owner)."""
        stmt = runs.runs_query(access_to(cid), query.get("tier"), query.get("period"))
        return paginate(db.session, stmt, query["page"], query["page_size"]).envelope()

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


@blp.route("/<cid>/reconciliation/runs/<rid>")
class RunItem(MethodView):
    @blp.response(200, s.RunSchema)
    def get(self, cid, rid):
        """One run (owner)."""
        return runs.get_run(db.session, access_to(cid), parse_id(rid))


@blp.route("/<cid>/reconciliation/runs/<rid>/file")
class RunFile(MethodView):
    @blp.doc(responses=XLSX_RESPONSE)
    def get(self, cid, rid):
        """Download a run's workbook (owner)."""
        path, name = runs.run_file(
            db.session, access_to(cid), parse_id(rid), current_app.config["REPORTS_DIR"]
        )
        return send_file(path, mimetype=ledger.XLSX, as_attachment=True, download_name=name)


@blp.route("/<cid>/reconciliation/statements/<period>")
class Statement(MethodView):
    @transaction(Transaction.WRITES)  # downloading a statement writes an audit event
    @blp.arguments(s.StatementQuerySchema, location="query")
    @blp.doc(responses=XLSX_RESPONSE)
    def get(self, query, cid, period):
        """An org's statement for a period: a partner its own, the owner any member's."""
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
