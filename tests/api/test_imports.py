"""Partner import from Excel through the API: the template, good and bad sheets, hostile files,
all-or-nothing, dry runs, re-imports and who may import."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from urllib3 import encode_multipart_formdata

from supplychain.excel.importer import MAX_DATA_ROWS, XLSX_MIMETYPE
from supplychain.models.directory import ORG_KINDS
from tests.conftest import activate

HEADER = [
    "company name",
    "kind",
    "custom id",
    "group path",
    "contact name",
    "email",
    "mobile",
    "title",
    "role",
]
GOOD_ROWS = [
    # company name, kind, custom id, group path, contact name, email, mobile, title, role
    [
        "Guangzhou Auto Mall",
        "dealer",
        "DLR-201",
        "Dealers/South China/Guangzhou",
        "Chen Jing",
        "chen@gz.example",
        "+86 138 0000 0001",
        "Sales manager",
        "admin",
    ],
    [
        "Guangzhou Auto Mall",
        "dealer",
        "DLR-201",
        "Dealers/South China/Guangzhou",
        "Zhao Min",
        "Zhao@GZ.example",
        13800000002,
        None,
        None,
    ],
    [
        "Ningbo Bearings",
        "supplier",
        "SUP-201",
        "Suppliers/Steel",
        "Li Lei",
        "li@nb.example",
        None,
        "Key account",
        "staff",
    ],
]


def xlsx(rows: list[list[Any]], header: list[Any] | None = None) -> bytes:
    """A workbook whose first sheet holds the header and rows (None: an empty cell)."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Partners")
    sheet.append(HEADER if header is None else header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(
    world,
    data: bytes,
    *,
    token: str | None = None,
    dry_run: bool = False,
    filename: str = "partners.xlsx",
):
    return world.api.request(
        "POST",
        world.path("/imports"),
        files={"file": (filename, data, XLSX_MIMETYPE)},
        params={"dry_run": "true"} if dry_run else None,
        token=token or world.owner.token,
    )


def members(world) -> dict[str, dict]:
    items = world.api.get(world.path("/members?page_size=500"), token=world.owner.token).json()
    return {m["custom_id"]: m for m in items["items"]}


def group_paths(world) -> set[str]:
    items = world.api.get(world.path("/groups?page_size=500"), token=world.owner.token).json()
    return {g["path"] for g in items["items"]}


def audit_actions(world) -> list[str]:
    items = world.api.get(world.path("/audit?page_size=500"), token=world.owner.token).json()
    return [e["action"] for e in items["items"]]


def contacts_total(world) -> int:
    return world.api.get(world.path("/contacts"), token=world.owner.token).json()["total"]


def rows_of(response) -> list[tuple[int, str | None, str | None]]:
    return [(e["row"], e["column"], e["cell"]) for e in response.json()["errors"]["rows"]]


# --- the template -----------------------------------------------------------------------------


def test_template_is_a_header_row_with_drop_downs_and_a_help_sheet(world):
    r = world.api.get(world.path("/imports/template"), token=world.owner.token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == XLSX_MIMETYPE
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.xlsx"')
    workbook = openpyxl.load_workbook(io.BytesIO(r.content))
    data, help_sheet = workbook.worksheets
    rows = list(data.iter_rows(values_only=True))
    assert rows == [tuple(HEADER)]  # no example rows
    lists = {
        str(dv.sqref).split(":")[0]: dv.formula1 for dv in data.data_validations.dataValidation
    }
    assert set(lists) == {"B2", "I2"}
    assert all(kind in lists["B2"] for kind in ORG_KINDS) and "经销商" in lists["B2"]
    assert "admin" in lists["I2"] and "staff" in lists["I2"]
    assert all(dv.type == "list" for dv in data.data_validations.dataValidation)
    explained = {row[0]: row for row in help_sheet.iter_rows(min_row=2, values_only=True)}
    for header, chinese in zip(
        HEADER,
        ["公司名称", "类型", "自定义ID", "分组", "姓名", "邮箱", "手机", "职务", "角色"],
        strict=True,
    ):
        assert explained[header][1] == chinese
        assert explained[header][4] and explained[header][5]  # allowed values, example
    assert all(kind in explained["kind"][4] for kind in ORG_KINDS)
    assert "e-mail" in explained["email"][2]  # other accepted header names
    # The template itself imports as nothing at all.
    empty = upload(world, r.content)
    assert empty.status_code == 201, empty.text
    assert empty.json()["rows"] == 0 and empty.json()["created"] == 0


def test_template_is_for_owner_admins(world):
    api = world.api
    path = world.path("/imports/template")
    assert api.get(path, token=world.owner_staff.token).status_code == 403
    assert api.get(path, token=world.parties["D1a"].token).status_code == 403
    assert api.get(path, token=world.outsider.token).status_code == 404
    assert api.get(path).status_code == 401


# --- good imports -----------------------------------------------------------------------------


def test_import_creates_companies_groups_and_contacts_who_can_activate(world):
    before_groups = group_paths(world)
    r = upload(world, xlsx(GOOD_ROWS))
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: v for k, v in body.items() if k != "invites"} == {
        "dry_run": False,
        "rows": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "contacts_created": 3,
        "groups_created": 2,  # Dealers/South China and .../Guangzhou; Suppliers/Steel existed
    }
    assert sorted(i["email"] for i in body["invites"]) == [
        "chen@gz.example",
        "li@nb.example",
        "zhao@gz.example",
    ]
    assert group_paths(world) - before_groups == {
        "Dealers/South China",
        "Dealers/South China/Guangzhou",
    }
    now = members(world)
    gz, nb = now["DLR-201"], now["SUP-201"]
    assert (gz["name"], gz["kind"], gz["group"]) == (
        "Guangzhou Auto Mall",
        "dealer",
        "Dealers/South China/Guangzhou",
    )
    assert (nb["kind"], nb["group"], nb["tier"]) == ("supplier", "Suppliers/Steel", "unlinked")
    detail = world.api.get(world.path(f"/members/{gz['org_id']}"), token=world.owner.token).json()
    people = {c["email"]: c for c in detail["contacts"]}
    assert people["chen@gz.example"]["role"] == "admin"
    assert people["chen@gz.example"]["mobile"] == "+86 138 0000 0001"
    assert people["zhao@gz.example"]["mobile"] == "13800000002"  # a number cell, every digit
    assert people["zhao@gz.example"]["role"] == "staff"
    assert not people["zhao@gz.example"]["activated"]
    # Each new contact activates with its code and sees the chain as a partner.
    for invite in body["invites"]:
        token = activate(world.api, invite["invite_code"])
        me = world.api.get("/me", token=token).json()
        assert [c["role"] for c in me["chains"]] == ["partner"]
    events = world.api.get(
        world.path("/audit?action=import.apply"), token=world.owner.token
    ).json()["items"]
    assert len(events) == 1
    assert events[0]["data"]["created"] == 2 and events[0]["data"]["contacts_created"] == 3
    assert (
        events[0]["data"]["filename"] == "partners.xlsx" and len(events[0]["data"]["sha256"]) == 64
    )
    assert "member.add" not in audit_actions(world)[-2:]


def test_upsert_updates_name_and_group_and_lists_new_people(world):
    d1a = world.parties["D1a"]
    rows = [
        # Renamed and moved; the existing contact is already listed.
        [
            "Beijing Motors Group",
            "dealer",
            "DLR-001",
            "Dealers/North China/Haidian",
            "X",
            "d1a@bj.example",
            None,
            None,
            None,
        ],
        # A new person of an existing member.
        [
            "Beijing Motors Group",
            "dealer",
            "DLR-001",
            "Dealers/North China/Haidian",
            "Wang Fang",
            "wang@bj.example",
            None,
            None,
            None,
        ],
        # Blank group: the member keeps its group; same name: unchanged.
        ["Shanghai Auto Trade", "dealer", "DLR-002", None, None, None, None, None, None],
    ]
    r = upload(world, xlsx(rows))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 1, 1)
    assert (body["contacts_created"], body["groups_created"]) == (1, 1)
    assert [i["email"] for i in body["invites"]] == ["wang@bj.example"]
    now = members(world)
    assert now["DLR-001"]["name"] == "Beijing Motors Group"
    assert now["DLR-001"]["group"] == "Dealers/North China/Haidian"
    assert now["DLR-001"]["org_id"] == d1a.org_id
    assert now["DLR-002"]["group"] == "Dealers/East China"
    # The renamed org's own people still work, and the new person belongs to that org.
    token = activate(world.api, body["invites"][0]["invite_code"])
    assert world.api.get("/me", token=token).json()["org"]["id"] == d1a.org_id


def test_a_known_person_of_the_same_org_is_listed_with_a_fresh_code(world):
    api, t, s1 = world.api, world.owner.token, world.parties["S1"]
    other = api.post("/chains", {"name": "Parts suppliers"}, token=t).json()["id"]
    elsewhere = api.post(
        f"/chains/{other}/members",
        {
            "org_id": s1.org_id,
            "custom_id": "P-1",
            "contacts": [{"name": "Sun Li", "email": "sun@steel.example"}],
        },
        token=t,
    )
    assert elsewhere.status_code == 201, elsewhere.text
    old_code = elsewhere.json()["contacts"][0]["invite_code"]
    row = [
        "Steel Works",
        "supplier",
        "SUP-001",
        None,
        "Sun Li",
        "sun@steel.example",
        None,
        None,
        None,
    ]
    r = upload(world, xlsx([row]))
    assert r.status_code == 201, r.text
    assert (r.json()["contacts_created"], r.json()["unchanged"]) == (1, 1)
    [invite] = r.json()["invites"]
    assert invite["email"] == "sun@steel.example" and invite["invite_code"] != old_code
    # As when a contact is added by hand, the new listing's code replaces the old one.
    old = api.post("/auth/activate", {"invite_code": old_code, "password": "long enough pw"})
    assert old.status_code == 404
    token = activate(api, invite["invite_code"])
    assert api.get("/me", token=token).json()["org"]["id"] == s1.org_id
    again = upload(world, xlsx([row]))
    assert again.json()["contacts_created"] == 0 and again.json()["invites"] == []


def test_the_owners_own_custom_id_is_refused(world):
    api, t = world.api, world.owner.token
    patched = api.patch(
        world.path(f"/members/{world.owner.org_id}"), {"custom_id": "CORE"}, token=t
    )
    assert patched.status_code == 200, patched.text
    r = upload(
        world, xlsx([["Acme Motors", "manufacturer", "CORE", None, None, None, None, None, None]])
    )
    assert r.status_code == 422 and rows_of(r) == [(2, "custom id", "C2")]


def test_reimport_changes_nothing(world):
    data = xlsx(GOOD_ROWS)
    first = upload(world, data)
    assert first.status_code == 201, first.text
    snapshot = (members(world), group_paths(world), contacts_total(world), audit_actions(world))
    again = upload(world, data)
    assert again.status_code == 201, again.text
    body = again.json()
    assert body == {
        "dry_run": False,
        "rows": 3,
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "contacts_created": 0,
        "groups_created": 0,
        "invites": [],
    }
    assert (members(world), group_paths(world), contacts_total(world)) == snapshot[:3]
    # The only trace of the second import is its own audit event.
    assert audit_actions(world) == [*snapshot[3], "import.apply"]


def test_dry_run_reports_and_saves_nothing(world):
    snapshot = (members(world), group_paths(world), contacts_total(world), audit_actions(world))
    data = xlsx(GOOD_ROWS)
    dry = upload(world, data, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and dry.json()["invites"] == []
    assert (dry.json()["created"], dry.json()["contacts_created"]) == (2, 3)
    assert (
        members(world),
        group_paths(world),
        contacts_total(world),
        audit_actions(world),
    ) == snapshot
    real = upload(world, data)
    assert real.status_code == 201
    counts = ("rows", "created", "updated", "unchanged", "contacts_created", "groups_created")
    assert {k: real.json()[k] for k in counts} == {k: dry.json()[k] for k in counts}
    # A dry run still reports every bad row.
    bad = upload(
        world, xlsx([["A", "bank", "X-1", None, None, None, None, None, None]]), dry_run=True
    )
    assert bad.status_code == 422 and rows_of(bad) == [(2, "kind", "B2")]


def test_chinese_headers_and_values(world):
    header = [" 公司名称 ", "类型", "自定义id", "分组", "姓名", "邮箱", "手机", "职务", "角色"]
    rows = [
        [
            "天津汽车贸易",
            "经销商",
            "DLR-301",
            "经销商/华北/天津",
            "刘洋",
            "liu@tj2.example",
            "13900000000",
            "店长",
            "管理员",
        ],
        [
            "天津汽车贸易",
            "经销商",
            "DLR-301",
            "经销商/华北/天津",
            "周强",
            "zhou@tj2.example",
            None,
            None,
            "员工",
        ],
    ]
    r = upload(world, xlsx(rows, header))
    assert r.status_code == 201, r.text
    assert (r.json()["created"], r.json()["contacts_created"]) == (1, 2)
    member = members(world)["DLR-301"]
    assert (member["name"], member["kind"], member["group"]) == (
        "天津汽车贸易",
        "dealer",
        "经销商/华北/天津",
    )
    detail = world.api.get(world.path(f"/members/{member['org_id']}"), token=world.owner.token)
    roles = {c["email"]: c["role"] for c in detail.json()["contacts"]}
    assert roles == {"liu@tj2.example": "admin", "zhou@tj2.example": "staff"}
    # English headers in another case and spacing, columns in another order, optional ones left out.
    mixed = ["EMAIL", "Custom_ID", "Company  Name", "KIND", "Contact-Name"]
    r = upload(world, xlsx([["x@y2.example", "OTH-1", "Other Co", "Other", "X Y"]], mixed))
    assert r.status_code == 201, r.text
    assert members(world)["OTH-1"]["kind"] == "other"


# --- bad rows ---------------------------------------------------------------------------------


def test_row_errors_name_every_bad_cell_and_nothing_is_saved(world):
    ok = ["New Dealer", "dealer", "DLR-401", "Dealers/West", "A", "a@new.example", None, None, None]
    rows = [
        ok,  # row 2
        ["New Dealer 2", "bank", "DLR-402", None, "B", "b@new.example", None, None, None],  # 3
        ["New Dealer 3", "dealer", "DLR-403", None, "C", "not-an-email", None, None, None],  # 4
        [None, "dealer", "DLR-404", None, "D", "d@new.example", None, None, None],  # 5
        [
            "New Dealer 5",
            "dealer",
            "DLR-405",
            "../etc",
            "E",
            "e@new.example",
            None,
            None,
            None,
        ],  # 6
        ["New Dealer 6", "dealer", "DLR-406", None, "F", "A@new.example", None, None, None],  # 7
        [
            "Other Name",
            "dealer",
            "DLR-401",
            "Dealers/West",
            "G",
            "g@new.example",
            None,
            None,
            None,
        ],  # 8
        ["New Dealer 8", "dealer", "DLR-408", None, "H", '=HYPERLINK("x")', None, None, None],  # 9
        ["New Dealer 9", "dealer", "DLR-409", None, "I", "d1a@bj.example", None, None, None],  # 10
        ["Steel Works", "dealer", "SUP-001", None, None, None, None, None, None],  # 11
        [
            "New Dealer 11",
            "dealer",
            "DLR-411",
            None,
            "K",
            "k@new.example",
            "call me",
            None,
            None,
        ],  # 12
        ["New Dealer 12", "dealer", "X" * 65, None, "L", "l@new.example", None, None, None],  # 13
        [None] * 9,  # 14: blank, skipped
        [
            "New Dealer 14",
            "dealer",
            "DLR-414",
            None,
            "N",
            "n@new.example",
            None,
            None,
            "root",
        ],  # 15
        ["New Dealer 15", "dealer", "DLR-415", None, "O", None, None, None, None],  # 16
        ["New Dealer 16", "dealer", "DLR-416", None, None, None, "139", None, None],  # 17
    ]
    before = (members(world), group_paths(world), contacts_total(world), audit_actions(world))
    r = upload(world, xlsx(rows))
    assert r.status_code == 422, r.text
    assert "nothing was imported" in r.json()["message"]
    assert rows_of(r) == [
        (3, "kind", "B3"),
        (4, "email", "F4"),
        (5, "company name", "A5"),
        (6, "group path", "D6"),
        (7, "email", "F7"),
        (8, "company name", "A8"),
        (9, "email", "F9"),
        (10, "email", "F10"),
        (11, "kind", "B11"),
        (12, "mobile", "G12"),
        (13, "custom id", "C13"),
        (15, "role", "I15"),
        (16, "email", "F16"),
        (17, "email", "F17"),
    ]
    messages = {e["row"]: e["message"] for e in r.json()["errors"]["rows"]}
    assert "row 2" in messages[7] and "row 2" in messages[8]
    assert "formula" in messages[9].lower()
    assert "another org" in messages[10]
    assert "kind" in messages[11] and "supplier" in messages[11]
    assert "64" in messages[13]
    assert (
        members(world),
        group_paths(world),
        contacts_total(world),
        audit_actions(world),
    ) == before


def test_error_list_is_capped_with_a_count_of_the_rest(world):
    rows = [[f"Co {i}", "bank", f"C-{i}", None, None, None, None, None, None] for i in range(300)]
    r = upload(world, xlsx(rows))
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert len(errors["rows"]) == 200 and errors["rows_not_listed"] == 100
    assert [e["row"] for e in errors["rows"]] == list(range(2, 202))
    assert "100 more" in r.json()["message"]


def test_header_problems_are_named(world):
    unknown = upload(world, xlsx([], [*HEADER, "emial", "备注"]))
    assert unknown.status_code == 422
    assert rows_of(unknown) == [(1, "emial", "J1"), (1, "备注", "K1")]
    missing = upload(world, xlsx([], ["company name", "kind", "custom id"]))
    assert missing.status_code == 422
    assert {e["column"] for e in missing.json()["errors"]["rows"]} == {"contact name", "email"}
    repeated = upload(world, xlsx([], [*HEADER, "邮箱"]))
    assert repeated.status_code == 422 and rows_of(repeated) == [(1, "邮箱", "J1")]
    unlabelled = upload(world, xlsx([[*GOOD_ROWS[0], None, "a note"]], [*HEADER, None, None]))
    assert unlabelled.status_code == 422 and rows_of(unlabelled) == [(2, None, "K2")]
    no_header = upload(world, xlsx([], []))
    assert no_header.status_code == 422


# --- hostile files ----------------------------------------------------------------------------


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def sheet_xml(rows: str, dimension: str | None = None) -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{dim}<sheetData>{rows}</sheetData></worksheet>"
    ).encode()


def with_sheet(xml: bytes) -> bytes:
    """A real workbook (from openpyxl) whose first sheet's XML is replaced by `xml`."""
    source = zipfile.ZipFile(io.BytesIO(xlsx([])))
    parts = {name: source.read(name) for name in source.namelist()}
    sheet = next(name for name in parts if name.startswith("xl/worksheets/"))
    parts[sheet] = xml
    return zip_bytes(parts)


def inline_row(number: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{get_column_letter(i)}{number}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values, start=1)
    )
    return f'<row r="{number}">{cells}</row>'


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"company name,kind\nAcme,dealer\n", 400, "no zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, 400, ".xls"),
        (b"PK\x03\x04" + b"\xff" * 300, 400, "damaged"),
        (zip_bytes({"hello.txt": b"hi"}), 400, "no .xlsx"),
    ],
    ids=["empty", "csv", "xls", "corrupt-zip", "zip-not-xlsx"],
)
def test_files_that_are_no_workbook_are_400(world, data, status, words):
    r = upload(world, data)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]


def test_truncated_and_tampered_workbooks_are_400(world):
    good = xlsx(GOOD_ROWS)
    assert upload(world, good[: len(good) // 2]).status_code == 400
    source = zipfile.ZipFile(io.BytesIO(good))
    parts = {name: source.read(name) for name in source.namelist()}
    parts["xl/workbook.xml"] = b"<workbook><not-closed>"
    assert upload(world, zip_bytes(parts)).status_code == 400
    sheet = next(name for name in parts if name.startswith("xl/worksheets/"))
    parts = {name: source.read(name) for name in source.namelist()}
    parts[sheet] = b"<?xml version='1.0'?><worksheet><sheetData><row>"
    r = upload(world, zip_bytes(parts))
    assert r.status_code == 400, r.text
    assert members(world).keys() == {None, "SUP-001", "DLR-001", "DLR-002", "DLR-101"}


def test_zip_bomb_is_refused_before_unpacking(world):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(120):
                member.write(chunk)
    bomb = buffer.getvalue()
    assert len(bomb) < 1_000_000
    start = time.perf_counter()
    r = upload(world, bomb)
    assert r.status_code == 413, r.text
    assert "unpacks to more than 100 MB" in r.json()["message"]
    assert time.perf_counter() - start < 5


def test_too_many_parts_is_413(world):
    parts = {f"xl/media/{i}.txt": b"" for i in range(1001)}
    r = upload(world, zip_bytes({"[Content_Types].xml": b"", "xl/workbook.xml": b"", **parts}))
    assert r.status_code == 413 and "parts" in r.json()["message"]


def test_too_many_rows_is_413(world):
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER)
    row = ["Co", "dealer", "C-1", None, None, None, None, None, None]
    for _ in range(MAX_DATA_ROWS + 1):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    r = upload(world, buffer.getvalue())
    assert r.status_code == 413, r.text
    assert "20000 data rows" in r.json()["message"]


@pytest.mark.parametrize(
    "xml",
    [
        # A million rows declared by the sheet's dimension.
        sheet_xml(inline_row(1, HEADER) + inline_row(1_000_000, ["x"]), "A1:I1000000"),
        # No dimension, a cell on row 1 000 000: refused after scanning at most 100 000 rows.
        sheet_xml(inline_row(1, HEADER) + inline_row(1_000_000, ["x"])),
    ],
    ids=["declared", "undeclared"],
)
def test_a_million_rows_is_413_quickly(world, xml):
    start = time.perf_counter()
    r = upload(world, with_sheet(xml))
    assert r.status_code == 413, r.text
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
def test_two_hundred_columns_is_413(world, declared):
    values = HEADER + [f"extra {i}" for i in range(191)]
    xml = sheet_xml(inline_row(1, values), "A1:GR1" if declared else None)
    r = upload(world, with_sheet(xml))
    assert r.status_code == 413, r.text
    assert "30 columns" in r.json()["message"]


def test_oversize_upload_is_413_as_json(live_world):
    """Over real HTTP: a chunked body (no declared length) is what a socket brings."""
    world = live_world
    r = upload(world, b"PK" + b"\0" * (6 * 1024 * 1024))
    assert r.status_code == 413
    assert r.json()["code"] == 413 and "larger than 5 MB" in r.json()["message"]
    # Without a declared length (chunked), Werkzeug stops reading at the limit: still JSON.
    chunks = iter([b"x" * (1 << 20)] * 6)
    r = world.api.request(
        "POST",
        world.path("/imports"),
        data=chunks,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        token=world.owner.token,
    )
    assert r.status_code == 413 and r.json()["code"] == 413


def test_missing_file_part_is_422(world):
    api = world.api
    r = api.post(world.path("/imports"), {"file": "not a file"}, token=world.owner.token)
    assert r.status_code == 422, r.text
    r = api.request(
        "POST",
        world.path("/imports"),
        files={"other": ("x.xlsx", xlsx(GOOD_ROWS))},
        token=world.owner.token,
    )
    assert r.status_code == 422, r.text
    bad_flag = api.request(
        "POST",
        world.path("/imports?dry_run=maybe"),
        files={"file": ("x.xlsx", xlsx(GOOD_ROWS))},
        token=world.owner.token,
    )
    assert bad_flag.status_code == 422


# --- who may import, and retries --------------------------------------------------------------


def test_only_owner_admins_import(world):
    data = xlsx(GOOD_ROWS)
    assert upload(world, data, token=world.owner_staff.token).status_code == 403
    assert upload(world, data, token=world.parties["D1a"].token).status_code == 403
    assert upload(world, data, token=world.outsider.token).status_code == 404
    anonymous = world.api.as_(None).request(
        "POST", world.path("/imports"), files={"file": ("x.xlsx", data)}
    )
    assert anonymous.status_code == 401
    assert "DLR-201" not in members(world)
    assert upload(world, data).status_code == 201


def _without_codes(answer: dict) -> dict:
    return answer | {"invites": [i | {"invite_code": None} for i in answer["invites"]]}


def test_idempotency_key_replays_the_same_upload(world):
    body, content_type = encode_multipart_formdata(
        {"file": ("partners.xlsx", xlsx(GOOD_ROWS), XLSX_MIMETYPE)}, boundary="fixed-boundary"
    )
    headers = {"Content-Type": content_type, "Idempotency-Key": "import-1"}

    def send():
        return world.api.request(
            "POST", world.path("/imports"), data=body, headers=headers, token=world.owner.token
        )

    first, second = send(), send()
    assert first.status_code == second.status_code == 201
    # The same answer, but the invitation codes are shown once: a replay has them null.
    codes = [invite["invite_code"] for invite in first.json()["invites"]]
    assert all(codes)
    assert second.json() == _without_codes(first.json())
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert audit_actions(world).count("import.apply") == 1


def test_idempotency_key_replays_a_rebuilt_upload(world):
    """A retry re-encodes the upload with a new multipart boundary (every HTTP library picks a
    random one per call): still the same request, so it replays; another file with the key is 409."""
    data = xlsx(GOOD_ROWS)
    boundaries = []

    def send(content: bytes, boundary: str):
        body, content_type = encode_multipart_formdata(
            {"file": ("partners.xlsx", content, XLSX_MIMETYPE)}, boundary=boundary
        )
        boundaries.append(content_type)
        return world.api.request(
            "POST",
            world.path("/imports"),
            data=body,
            headers={"Content-Type": content_type, "Idempotency-Key": "import-retry"},
            token=world.owner.token,
        )

    first, second = send(data, "first-boundary"), send(data, "retry-boundary-42")
    assert boundaries[0] != boundaries[1]
    assert first.status_code == second.status_code == 201, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json() == _without_codes(first.json())
    other = send(xlsx(GOOD_ROWS[:1]), "third-boundary")
    assert other.status_code == 409, other.text
    assert audit_actions(world).count("import.apply") == 1
