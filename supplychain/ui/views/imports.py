"""Directory admin: import partners and their people from the Excel template, all or nothing."""

from __future__ import annotations

import io
from typing import Any

from flask import render_template, request, send_file

from supplychain.access import ChainAccess
from supplychain.errors import BadRequest, Conflict, Invalid, TooLarge
from supplychain.excel.importer import MAX_DATA_ROWS, MAX_UPLOAD_BYTES, XLSX_MIMETYPE
from supplychain.extensions import db
from supplychain.services import imports
from supplychain.services.imports import ImportResult
from supplychain.ui.base import blp, chain, login_required
from supplychain.ui.forms import FormErrors
from supplychain.ui.i18n import gettext

# Multipart overhead around the file itself, as the API allows.
UPLOAD_SLACK = 64 * 1024
IMPORT_ENDPOINT = "ui.directory_import"


@blp.before_app_request
def _limit_upload() -> None:
    # Before any form parsing (the CSRF check reads the form): a bigger body is refused (413)
    # as it streams in, at the API's limit rather than the app-wide one.
    if request.endpoint == IMPORT_ENDPOINT and request.method == "POST":
        request.max_content_length = MAX_UPLOAD_BYTES + UPLOAD_SLACK


def _render(
    access: ChainAccess,
    *,
    errors: FormErrors | None = None,
    rows: list[dict[str, Any]] | None = None,
    rows_not_listed: int = 0,
    result: ImportResult | None = None,
    dry_run: bool = True,
    detail: str | None = None,
):
    return render_template(
        "directory/import.html",
        access=access,
        errors=errors or FormErrors(),
        rows=rows or [],
        rows_not_listed=rows_not_listed,
        result=result,
        dry_run=dry_run,
        detail=detail,
        max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        max_rows=MAX_DATA_ROWS,
    )


@blp.get("/chains/<id:cid>/import/template")
@login_required
def import_template(cid: int | None):
    """The xlsx template (owner admins), the same as the API's."""
    access = chain(cid)
    data = imports.template_workbook(access)
    return send_file(
        io.BytesIO(data),
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=f"partners-import-template-chain-{access.chain_id}.xlsx",
    )


@blp.route("/chains/<id:cid>/import", methods=["GET", "POST"])
@login_required
def directory_import(cid: int | None):
    """Upload the filled-in template: a dry run counts what would change; a real import saves it
    all or nothing and shows the new contacts' invitation codes once."""
    access = chain(cid)
    access.require_owner_admin()
    if request.method != "POST":
        return _render(access)
    dry_run = request.form.get("dry_run") is not None
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        message = "Choose the filled-in template (.xlsx) to upload."
        errors = FormErrors(message, {"file": [message]})
        return _render(access, errors=errors, dry_run=dry_run), 422
    try:
        result = imports.import_partners(
            db.session,
            access,
            upload.stream,
            dry_run=dry_run,
            filename=upload.filename,
            send_invites=request.form.get("send_invites") is not None,
        )
    except Invalid as exc:
        db.session.rollback()
        found = exc.errors or {}
        listed = found.get("rows") if isinstance(found.get("rows"), list) else []
        rest = found.get("rows_not_listed", 0)
        errors = FormErrors(
            gettext("Nothing was imported: correct these cells and upload the file again."),
            {k: v for k, v in found.items() if k not in ("rows", "rows_not_listed")},
        )
        return _render(
            access,
            errors=errors,
            rows=listed,
            rows_not_listed=rest if isinstance(rest, int) else 0,
            dry_run=dry_run,
            detail=exc.message,
        ), exc.code
    except (BadRequest, TooLarge, Conflict) as exc:
        db.session.rollback()
        errors = FormErrors(exc.message, {"file": [exc.message]})
        return _render(access, errors=errors, dry_run=dry_run), exc.code
    return _render(access, result=result, dry_run=dry_run)
