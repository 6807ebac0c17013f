"""`Prefer: respond-async` (RFC 7240), which turns a reconciliation run into a background one."""

from supplychain.api.reconciliation.routes import _prefers_async


def test_prefer_header_is_read_as_rfc_7240_says():
    assert _prefers_async("respond-async")
    assert _prefers_async("wait=10, RESPOND-ASYNC")
    assert _prefers_async("respond-async; foo=bar")
    assert not _prefers_async("")
    assert not _prefers_async("return=minimal, wait=10")
    assert not _prefers_async("respond-asyncx")
