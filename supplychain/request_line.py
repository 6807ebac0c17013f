"""414 URI Too Long, answered in the API's shapes instead of gunicorn's HTML page.

gunicorn refuses a request line past `limit_request_line` before the app sees it, with an HTML
page. `supplychain serve` raises that limit to gunicorn's maximum (8190 bytes) and this WSGI
check answers a line past `MAX_REQUEST_LINE` (4094 bytes, gunicorn's default, so the limit
people knew stays) itself: the API's JSON error (`{"code": 414, ...}`) everywhere, WeCom's
`{"errcode", "errmsg"}` under `/cgi-bin`. A line past 8190 bytes is still cut by gunicorn, whose
worker (`server.JsonErrorsWorker`) then answers the API's JSON error: at that point the path is
not known, so `/cgi-bin` gets the API's shape too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from supplychain.errors import error_payload

MAX_REQUEST_LINE = 4094
GUNICORN_LIMIT = 8190  # gunicorn's maximum `limit_request_line`
MESSAGE = f"The request line (method, URL, protocol) is longer than {MAX_REQUEST_LINE} bytes."
WECOM_BAD_PARAMETER = 40058


def request_line_length(environ: dict[str, Any]) -> int:
    """The length in bytes of the request line as the client sent it."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not target:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        path = quote(path.encode("latin-1", "replace"), safe="/;:@&=+$,!~*'()%")
        query = environ.get("QUERY_STRING", "")
        target = path + (f"?{query}" if query else "")
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    return len(environ.get("REQUEST_METHOD", "GET")) + 1 + len(target) + 1 + len(protocol)


def too_long_body(path: str) -> bytes:
    """The 414 answer's body for a request to `path`."""
    if path == "/cgi-bin" or path.startswith("/cgi-bin/"):
        payload: dict[str, Any] = {"errcode": WECOM_BAD_PARAMETER, "errmsg": MESSAGE}
    else:
        payload = error_payload(414, MESSAGE)
    return json.dumps(payload).encode("utf-8")


class RequestLineLimit:
    """WSGI middleware: a request line past MAX_REQUEST_LINE gets a JSON 414, nothing else runs."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if request_line_length(environ) <= MAX_REQUEST_LINE:
            return self.app(environ, start_response)
        body = too_long_body(environ.get("PATH_INFO", ""))
        start_response(
            "414 URI Too Long",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


def document(spec: Any) -> None:
    """Say it in the OpenAPI document: a `URITooLong` response and a line in the description."""
    spec.components.response(
        "URITooLong",
        {
            "description": MESSAGE + " Answered with the JSON error shape (code 414) on every"
            " path; under /cgi-bin with WeCom's {errcode: 40058, errmsg} up to 8190 bytes.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "integer", "example": 414},
                            "status": {"type": "string", "example": "Request URI Too Long"},
                            "message": {"type": "string"},
                        },
                    }
                }
            },
        },
    )
    info = spec.options.setdefault("info", {})
    info["description"] = (
        (info.get("description", "") + "\n\n").lstrip()
        + f"Every request line (method, URL with its query, protocol) is at most "
        f"{MAX_REQUEST_LINE} bytes: a longer one is answered 414 with the JSON error shape "
        "(`#/components/responses/URITooLong`), never an HTML page."
    )
