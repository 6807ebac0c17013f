"""GET /healthz: the database answers and the scheduler's whereabouts."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from supplychain.documents.fonts import cjk_font_status
from supplychain.extensions import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    """200 with database and scheduler status; 503 if the database does not answer."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        database = "unavailable"
    in_deployment = current_app.config.get("SCHEDULER_MODE") == "master"
    running = current_app.extensions.get("supplychain_scheduler") is not None or in_deployment
    scheduler = "running" if running else "external"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "scheduler": scheduler,
        # Labels and delivery notes print Chinese text only with a CJK font on the system.
        "pdf_fonts": cjk_font_status(),
    }
    return jsonify(body), 200 if database == "ok" else 503
