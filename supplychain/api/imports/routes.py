"""Partner import: the xlsx template and the all-or-nothing upload."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView

from supplychain.api.common import access_to, authenticated_blueprint, idempotent
from supplychain.errors import TooLarge
from supplychain.excel.importer import (
    MAX_COLUMNS,
    MAX_DATA_ROWS,
    MAX_UNCOMPRESSED_BYTES,
    MAX_UPLOAD_BYTES,
    XLSX_MIMETYPE,
)
from supplychain.extensions import db
from supplychain.schemas import imports as s
from supplychain.services import imports
from supplychain.services.import_rows import MAX_REPORTED_ERRORS

blp = authenticated_blueprint(
    "imports",
    __name__,
    url_prefix="/chains",
    description="Import partners and their people from Excel, all or nothing",
)
BLUEPRINTS = (blp,)
# Multipart overhead around the file itself.
UPLOAD_SLACK = 64 * 1024
IMPORT_DESCRIPTION = f"""Owner admins only. One row per contact of the template's first sheet;
rows with the same `custom id` are one company. Companies are upserted by custom id (new ones
become members, existing ones get the sheet's name and, when given, group), people by email
(new people are created with a single-use invitation code, returned once in `invites` and mailed
to each person with an email, in an invitation naming the chain, your org and theirs, unless
`send_invites=false`; people of the same company are listed as contacts). Missing groups are created. Headers may be English or
Chinese (公司名称, 类型, 自定义ID, 分组, 姓名, 邮箱, 手机, 职务, 角色), compared without case or
spaces; unknown headers are refused. Formulas are never evaluated: a formula cell is refused.

All or nothing: any bad cell gives 422 with `errors.rows` = `[{{row, column, cell, message}}]`,
`row` as Excel numbers it (header = 1), in sheet order, at most {MAX_REPORTED_ERRORS}
(`errors.rows_not_listed` counts the rest), and nothing is saved. A file that is no readable
.xlsx is 400. Limits (413): {MAX_UPLOAD_BYTES // (1024 * 1024)} MB upload, {MAX_DATA_ROWS} data
rows, {MAX_COLUMNS} columns, {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB unpacked.
Importing the same file again changes nothing.

Companies added or moved to another group gain or lose the chain's shared apps at once, as members
added or moved by hand do: `app.shared` / `app.unshared` events, and the app sessions of an org no
live grant covers any more end (with back-channel logouts). A dry run changes nothing."""


@blp.before_request
def _limit_upload() -> None:
    # Tighter than the app-wide MAX_CONTENT_LENGTH: a bigger body is a 413 before it is read
    # (a declared length here, with our message; a chunked one by Werkzeug as it streams).
    request.max_content_length = MAX_UPLOAD_BYTES + UPLOAD_SLACK
    if (request.content_length or 0) > request.max_content_length:
        raise TooLarge(f"The upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")


@blp.route("/<id:cid>/imports/template")
class ImportTemplate(MethodView):
    @blp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type=XLSX_MIMETYPE,
        description="The xlsx template: a header row on the first sheet, help on the second.",
    )
    def get(self, cid):
        """The partner import template (owner admins)."""
        access = access_to(cid)
        data = imports.template_workbook(access)
        name = f"partners-import-template-chain-{access.chain_id}.xlsx"
        return Response(
            data,
            mimetype=XLSX_MIMETYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


@blp.route("/<id:cid>/imports")
class Imports(MethodView):
    @idempotent(secrets=("invite_code",))
    @blp.arguments(s.ImportQuerySchema, location="query")
    @blp.arguments(s.ImportUploadSchema, location="files")
    @blp.response(
        201, s.ImportResultSchema, description="Imported; invitation codes of new contacts"
    )
    @blp.alt_response(
        200, schema=s.ImportResultSchema, description="Dry run: what would happen; nothing saved"
    )
    @blp.doc(description=IMPORT_DESCRIPTION)
    def post(self, query, files, cid):
        """Upsert partners by custom id and contacts by email from an xlsx, all or nothing."""
        upload = files["file"]
        result = imports.import_partners(
            db.session,
            access_to(cid),
            upload.stream,
            dry_run=query["dry_run"],
            filename=upload.filename,
            send_invites=query["send_invites"],
        )
        return result, 200 if result.dry_run else 201
