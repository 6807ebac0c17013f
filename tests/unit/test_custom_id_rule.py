"""One custom-id rule: 1 to MAX_CUSTOM_ID characters, in the column, the API schema, the service
check and the import sheet alike."""

from __future__ import annotations

import io

import marshmallow as ma
import openpyxl
import pytest

from supplychain.excel.importer import COLUMNS, read_import_sheet
from supplychain.models import Member
from supplychain.models.directory import MAX_CUSTOM_ID, valid_custom_id
from supplychain.schemas.directory import MemberCreateSchema, MemberPatchSchema
from supplychain.services.import_rows import RowErrors, read_rows

LONGEST = "C" * MAX_CUSTOM_ID
TOO_LONG = "C" * (MAX_CUSTOM_ID + 1)


@pytest.mark.parametrize(
    ("custom_id", "valid"),
    [
        ("DLR-001", True),
        ("x", True),
        (LONGEST, True),
        ("", False),
        (TOO_LONG, False),
        (None, False),
    ],
)
def test_the_rule(custom_id, valid):
    assert valid_custom_id(custom_id) is valid


def test_the_column_holds_the_longest_code():
    assert Member.__table__.c.custom_id.type.length == MAX_CUSTOM_ID


def test_schemas_follow_the_rule():
    body = {"org_id": 7, "custom_id": LONGEST}
    assert MemberCreateSchema().load(body)["custom_id"] == LONGEST
    assert MemberPatchSchema().load({"custom_id": LONGEST})["custom_id"] == LONGEST
    for schema, data in ((MemberCreateSchema(), {"org_id": 7}), (MemberPatchSchema(), {})):
        with pytest.raises(ma.ValidationError) as refused:
            schema.load({**data, "custom_id": TOO_LONG})
        assert refused.value.messages == {"custom_id": [f"At most {MAX_CUSTOM_ID} characters."]}


def test_the_import_sheet_follows_the_rule():
    workbook = openpyxl.Workbook()
    rows = workbook.active
    rows.append([column.header for column in COLUMNS])
    for number, code in enumerate((LONGEST, TOO_LONG)):
        values = {
            "company_name": "Org",
            "kind": "dealer",
            "custom_id": code,
            "contact_name": "Ann",
            "email": f"ann{number}@example.com",
        }
        rows.append([values.get(column.key) for column in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    sheet = read_import_sheet(io.BytesIO(buffer.getvalue()))
    errors = RowErrors(sheet)
    companies, _ = read_rows(sheet, errors)
    assert list(companies) == [LONGEST]
    assert [(row, key, text) for row, _, key, text in errors.found] == [
        (3, "custom_id", f"At most {MAX_CUSTOM_ID} characters.")
    ]
