"""A request line too long answers JSON (414), over real HTTP through `supplychain serve`
(gunicorn) as through the app: the API's error shape, WeCom's under /cgi-bin."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from supplychain.request_line import MAX_REQUEST_LINE, request_line_length
from tests.integration.test_serve_worker import _serve, _stop

pytestmark = pytest.mark.committed


def line_of(path: str, length: int) -> str:
    """`path` with a query making `GET <target> HTTP/1.1` exactly `length` bytes."""
    fixed = len("GET ") + len(path) + len("?q=") + len(" HTTP/1.1")
    return f"{path}?q={'a' * (length - fixed)}"


def raw_get(base: str, target: str) -> tuple[int, str, bytes]:
    """One request over a plain socket (no client library in between): status, type, body."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


def test_the_line_length_is_counted_as_sent(app):
    target = line_of("/api/v1/chains", 5000)
    with app.test_request_context(target):
        from flask import request

        assert request_line_length(request.environ) == 5000


@pytest.mark.parametrize("length", [MAX_REQUEST_LINE + 1, 8000])
def test_the_app_answers_a_long_line_in_json(app, length):
    client = app.test_client()
    answer = client.get(line_of("/api/v1/chains", length))
    assert answer.status_code == 414
    assert answer.get_json()["code"] == 414
    assert "4094" in answer.get_json()["message"]
    wecom = client.get(line_of("/cgi-bin/user/get", length))
    assert wecom.status_code == 414
    assert wecom.get_json()["errcode"] == 40058
    assert client.get(line_of("/api/v1/chains", MAX_REQUEST_LINE)).status_code == 401


def test_serve_answers_long_lines_in_json(app, database_url, tmp_path):
    process, base = _serve(database_url, tmp_path, "--no-worker")
    try:
        for length in (MAX_REQUEST_LINE + 1, 8190):
            status, kind, body = raw_get(base, line_of("/api/v1/chains", length))
            assert (status, kind) == (414, "application/json"), body
            assert requests.models.complexjson.loads(body)["code"] == 414
            status, kind, body = raw_get(base, line_of("/cgi-bin/user/get", length))
            assert (status, kind) == (414, "application/json"), body
            assert requests.models.complexjson.loads(body)["errcode"] == 40058
        # Past gunicorn's maximum the path is unknown: the API's shape, still JSON.
        status, kind, body = raw_get(base, line_of("/cgi-bin/user/get", 20000))
        assert (status, kind) == (414, "application/json"), body
        assert requests.models.complexjson.loads(body)["code"] == 414
        # Within the limit the request goes through as before.
        status, kind, _body = raw_get(base, line_of("/api/v1/chains", MAX_REQUEST_LINE))
        assert (status, kind) == (401, "application/json")
    finally:
        _stop(process)
