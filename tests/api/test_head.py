"""HEAD works wherever GET does: every GET operation of the API answers HEAD alike, bodiless."""

import re


def test_head_answers_like_get_on_every_api_operation(world):
    api = world.api
    spec = api.get("/api/openapi.json").json()
    values = {"cid": world.chain_id, "org_id": world.parties["D1a"].org_id}
    checked = 0
    for path, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        concrete = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)
        got = api.get(concrete, token=world.owner.token)
        head = api.request("HEAD", concrete, token=world.owner.token)
        assert head.status_code == got.status_code, path
        assert head.headers.get("Content-Type") == got.headers.get("Content-Type"), path
        assert head.content == b"", path
        checked += 1
    assert checked > 15
    assert api.request("HEAD", "/healthz").status_code == 200
