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
