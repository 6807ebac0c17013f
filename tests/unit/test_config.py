"""Settings of the security features: whole numbers from the environment, refused when bad."""

import pytest

from supplychain.config import Config


def test_session_days_and_trusted_proxies_defaults(monkeypatch):
    monkeypatch.delenv("SUPPLYCHAIN_SESSION_DAYS", raising=False)
    monkeypatch.delenv("SUPPLYCHAIN_TRUSTED_PROXIES", raising=False)
    config = Config()
    assert (config.SESSION_DAYS, config.TRUSTED_PROXIES) == (30, 0)
    monkeypatch.setenv("SUPPLYCHAIN_SESSION_DAYS", " 7 ")
    monkeypatch.setenv("SUPPLYCHAIN_TRUSTED_PROXIES", "2")
    config = Config()
    assert (config.SESSION_DAYS, config.TRUSTED_PROXIES) == (7, 2)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SUPPLYCHAIN_SESSION_DAYS", "0"),
        ("SUPPLYCHAIN_SESSION_DAYS", "-3"),
        ("SUPPLYCHAIN_SESSION_DAYS", "1.5"),
        ("SUPPLYCHAIN_TRUSTED_PROXIES", "yes"),
        ("SUPPLYCHAIN_TRUSTED_PROXIES", "10.0.0.0/8"),
        ("SUPPLYCHAIN_TRUSTED_PROXIES", "١"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        Config()


def test_webhook_and_worker_settings(monkeypatch):
    for name in (
        "SUPPLYCHAIN_WEBHOOK_RETRY_SCHEDULE",
        "SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE",
        "SUPPLYCHAIN_BASE_URL",
        "PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    config = Config()
    assert config.WEBHOOK_RETRY_SCHEDULE == (10, 60, 300, 1800, 7200, 28800, 86400)
    assert config.WEBHOOK_ALLOW_PRIVATE is False
    assert (config.WEBHOOK_TIMEOUT, config.WORKER_LEASE_SECONDS) == (10, 60)
    assert config.BASE_URL == "http://localhost:8000"
    monkeypatch.setenv("SUPPLYCHAIN_WEBHOOK_RETRY_SCHEDULE", " 5, 30 ,0 ")
    monkeypatch.setenv("SUPPLYCHAIN_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("SUPPLYCHAIN_BASE_URL", "https://sc.example.com/")
    config = Config()
    assert config.WEBHOOK_RETRY_SCHEDULE == (5, 30, 0)
    assert config.WEBHOOK_ALLOW_PRIVATE is True
    assert config.BASE_URL == "https://sc.example.com"


@pytest.mark.parametrize("value", ["10,1m", "-5", "10,,60", "1.5"])
def test_a_bad_retry_schedule_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("SUPPLYCHAIN_WEBHOOK_RETRY_SCHEDULE", value)
    with pytest.raises(ValueError, match="SUPPLYCHAIN_WEBHOOK_RETRY_SCHEDULE"):
        Config()


def test_the_base_url_defaults_to_the_local_port(monkeypatch):
    monkeypatch.delenv("SUPPLYCHAIN_BASE_URL", raising=False)
    monkeypatch.setenv("PORT", "9123")
    assert Config().BASE_URL == "http://localhost:9123"
    monkeypatch.setenv("SUPPLYCHAIN_BASE_URL", "  ")  # blank: as if unset
    assert Config().BASE_URL == "http://localhost:9123"
    monkeypatch.setenv("SUPPLYCHAIN_BASE_URL", "https://sc.example.com/")
    assert Config().BASE_URL == "https://sc.example.com"  # configured: PORT does not matter
    monkeypatch.delenv("SUPPLYCHAIN_BASE_URL")
    monkeypatch.delenv("PORT")
    assert Config().BASE_URL == "http://localhost:8000"


@pytest.mark.parametrize("value", ["0", "65536", "80a", "-1", "8000.0"])
def test_a_bad_port_stops_the_start_when_it_makes_the_base_url(monkeypatch, value):
    monkeypatch.delenv("SUPPLYCHAIN_BASE_URL", raising=False)
    monkeypatch.setenv("PORT", value)
    with pytest.raises(ValueError, match="PORT"):
        Config()
    monkeypatch.setenv("SUPPLYCHAIN_BASE_URL", "https://sc.example.com")
    assert Config().BASE_URL == "https://sc.example.com"
