"""/healthz and `supplychain serve` say plainly whether PDFs can print Chinese (a CJK font)."""

from __future__ import annotations

import stat

import pytest

from supplychain.documents import fonts


@pytest.fixture
def fresh_status():
    fonts.cjk_font_status.cache_clear()
    yield
    fonts.cjk_font_status.cache_clear()


def _fake_fc_list(tmp_path, output: str) -> str:
    script = tmp_path / "fc-list"
    script.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_found_with_the_system_font(fresh_status, api):
    assert fonts.cjk_font_status() == "ok"  # fonts-noto-cjk is installed where tests run
    assert api.get("/healthz").json()["pdf_fonts"] == "ok"


def test_missing_without_fontconfig_or_without_a_cjk_font(fresh_status, api, monkeypatch, tmp_path):
    monkeypatch.setattr(fonts.shutil, "which", lambda name: None)
    assert fonts.cjk_font_status() == "missing"
    assert api.get("/healthz").json()["pdf_fonts"] == "missing"
    fonts.cjk_font_status.cache_clear()
    empty = _fake_fc_list(tmp_path, "")
    monkeypatch.setattr(fonts.shutil, "which", lambda name: empty)
    assert fonts.cjk_font_status() == "missing"
    fonts.cjk_font_status.cache_clear()
    found = _fake_fc_list(tmp_path, "Noto Sans CJK SC")
    monkeypatch.setattr(fonts.shutil, "which", lambda name: found)
    assert fonts.cjk_font_status() == "ok"


def test_serve_says_so_at_start(fresh_status, monkeypatch, capsys):
    from supplychain import server

    monkeypatch.setattr(fonts.shutil, "which", lambda name: None)
    server._say_pdf_fonts()
    err = capsys.readouterr().err
    assert "pdf_fonts: missing" in err and "fonts-noto-cjk" in err
