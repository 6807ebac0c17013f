"""The access log never holds a live invitation code: not in the request line, the path or the
Referer of the activation form posted from the link's page."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

from gunicorn.config import Config as GunicornConfig

from supplychain.server import RedactingLogger, redact_invite_codes

CODE = "K7QX-M2PA-9VZT"


def test_codes_are_cut_from_every_logged_place():
    cfg = GunicornConfig()
    cfg.set("accesslog", None)
    logger = RedactingLogger(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/activate/{CODE}?lang=zh",
        "PATH_INFO": f"/activate/{CODE}",
        "QUERY_STRING": "lang=zh",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://sc.example.com/activate/{CODE}",
        "REMOTE_ADDR": "127.0.0.1",
    }
    req = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    resp = SimpleNamespace(status="200 OK", headers=[], sent=10)
    atoms = logger.atoms(resp, req, environ, datetime.timedelta(milliseconds=5))
    line = " ".join(str(v) for v in atoms.values())
    assert CODE not in line
    assert atoms["r"] == "GET /activate/… HTTP/1.1" or atoms["r"].startswith("GET /activate/…?")
    assert atoms["U"] == "/activate/…"
    assert atoms["f"] == "https://sc.example.com/activate/…"


def test_other_paths_are_logged_as_they_are():
    assert redact_invite_codes("GET /chains/1/orders?page=2 HTTP/1.1") == (
        "GET /chains/1/orders?page=2 HTTP/1.1"
    )
    assert redact_invite_codes("POST /activate HTTP/1.1") == "POST /activate HTTP/1.1"
