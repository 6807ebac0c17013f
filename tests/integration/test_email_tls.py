"""Mail over TLS against a real TLS SMTP server (aiosmtpd with a throwaway self-signed
certificate): STARTTLS and implicit TLS, the server's certificate verified against
SUPPLYCHAIN_SMTP_CA_FILE, and SMTP AUTH with the URL's user and password over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from supplychain.outbound.mail.sending import send_email_deliveries
from tests.integration.test_email import BASE, NOTICE, claim
from tests.mailserver import (
    Certificate,
    Credentials,
    self_signed_certificate,
    smtp_server,
)

TLS_MODES = ["starttls", "implicit"]
# aiosmtpd knows TLS only as STARTTLS, so a server requiring AUTH on an implicit TLS socket warns
# that AUTH does not require TLS: here the whole connection is TLS.
AUTH_MODES = [
    "starttls",
    pytest.param(
        "implicit",
        marks=pytest.mark.filterwarnings(
            "ignore:Requiring AUTH while not requiring TLS:UserWarning"
        ),
    ),
]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def mail_settings(app, monkeypatch) -> Iterator:
    """Point the app at a server: (url, ca_file or None)."""

    def point(url: str, ca_file: Path | None) -> None:
        monkeypatch.setitem(app.config, "SMTP_URL", url)
        monkeypatch.setitem(app.config, "SMTP_CA_FILE", str(ca_file) if ca_file else None)
        monkeypatch.setitem(app.config, "BASE_URL", BASE)
        monkeypatch.setitem(app.config, "MAIL_FROM", "Supply chain <noreply@sc.example>")

    yield point


def _two_claims(app, world):
    return [
        claim(app, world, world.parties[key].user_id, "notice.published", NOTICE)
        for key in ("D1a", "D1b")
    ]


@pytest.mark.parametrize("mode", TLS_MODES)
def test_mail_goes_over_tls_to_a_server_trusted_by_the_ca_file(
    app, world, certificate, mail_settings, mode
):
    with smtp_server(tls=mode, certificate=certificate) as (collector, url):
        assert url.startswith("smtp+starttls://" if mode == "starttls" else "smtps://")
        mail_settings(url, certificate.cert)
        claimed = _two_claims(app, world)
        outcomes = send_email_deliveries(app, claimed)
    assert all(outcomes[c.id].ok for c in claimed), outcomes
    assert sorted(m.recipients[0] for m in collector.messages) == sorted(
        [world.parties["D1a"].email, world.parties["D1b"].email]
    )
    assert collector.tls == [True, True]
    assert collector.logins == [None, None]
    assert "Model X allocation" in collector.messages[0].message["Subject"]


@pytest.mark.parametrize("mode", TLS_MODES)
def test_an_untrusted_certificate_sends_nothing_and_is_retried(
    app, world, certificate, mail_settings, mode, tmp_path
):
    # Trusting another certificate (or the system's CAs) is not trusting this server's.
    other = self_signed_certificate(tmp_path, "other")
    for ca_file in (other.cert, None):
        with smtp_server(tls=mode, certificate=certificate) as (collector, url):
            mail_settings(url, ca_file)
            claimed = _two_claims(app, world)
            outcomes = send_email_deliveries(app, claimed)
        assert collector.messages == []
        for c in claimed:
            outcome = outcomes[c.id]
            assert not outcome.ok and outcome.retry, outcome
            assert "CERTIFICATE_VERIFY_FAILED" in outcome.error, outcome.error


@pytest.mark.parametrize("mode", AUTH_MODES)
def test_smtp_auth_with_the_urls_login_over_tls(app, world, certificate, mail_settings, mode):
    credentials = Credentials("mailer@sc.example", "s3cret pass")
    with smtp_server(tls=mode, certificate=certificate, credentials=credentials) as (
        collector,
        url,
    ):
        # The URL carries the login %-encoded, as an operator would write it.
        url = url.replace("mailer@sc.example:s3cret pass@", "mailer%40sc.example:s3cret%20pass@")
        mail_settings(url, certificate.cert)
        claimed = _two_claims(app, world)
        outcomes = send_email_deliveries(app, claimed)
    assert all(outcomes[c.id].ok for c in claimed), outcomes
    assert collector.logins == ["mailer@sc.example", "mailer@sc.example"]
    assert collector.tls == [True, True]
    assert credentials.refused == 0


@pytest.mark.parametrize("mode", AUTH_MODES)
def test_a_wrong_password_sends_nothing_and_is_retried(
    app, world, certificate, mail_settings, mode
):
    credentials = Credentials("mailer", "right")
    with smtp_server(tls=mode, certificate=certificate, credentials=credentials) as (
        collector,
        url,
    ):
        mail_settings(url.replace("mailer:right@", "mailer:wrong@"), certificate.cert)
        claimed = _two_claims(app, world)
        outcomes = send_email_deliveries(app, claimed)
    assert collector.messages == []
    assert credentials.refused >= 1
    for c in claimed:
        outcome = outcomes[c.id]
        assert not outcome.ok and outcome.retry and outcome.status_code == 535, outcome


def test_a_ca_file_that_is_no_certificate_stops_the_start(monkeypatch, tmp_path):
    from supplychain.config import Config

    monkeypatch.setenv("SUPPLYCHAIN_SMTP_URL", "smtps://mail.example")
    monkeypatch.setenv("SUPPLYCHAIN_SMTP_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="SUPPLYCHAIN_SMTP_CA_FILE"):
        Config()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    monkeypatch.setenv("SUPPLYCHAIN_SMTP_CA_FILE", str(junk))
    with pytest.raises(ValueError, match="SUPPLYCHAIN_SMTP_CA_FILE"):
        Config()


def test_the_ca_file_setting_is_read(monkeypatch, certificate):
    from supplychain.config import Config

    monkeypatch.setenv("SUPPLYCHAIN_SMTP_CA_FILE", str(certificate.cert))
    assert str(certificate.cert) == Config().SMTP_CA_FILE
    monkeypatch.delenv("SUPPLYCHAIN_SMTP_CA_FILE")
    assert Config().SMTP_CA_FILE is None
