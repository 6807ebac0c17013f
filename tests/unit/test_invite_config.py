"""SUPPLYCHAIN_INVITE_DAYS: how long invitation codes live; a bad value stops the start."""

import pytest

from supplychain.config import Config
from supplychain.services.invite_codes import code_from_salt, code_hash, fresh_codes


def test_invite_days_default_and_setting(monkeypatch):
    monkeypatch.delenv("SUPPLYCHAIN_INVITE_DAYS", raising=False)
    assert Config().INVITE_DAYS == 14
    monkeypatch.setenv("SUPPLYCHAIN_INVITE_DAYS", " 30 ")
    assert Config().INVITE_DAYS == 30


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "two weeks", "14d"])
def test_a_bad_invite_days_value_stops_the_start_naming_it(monkeypatch, value):
    monkeypatch.setenv("SUPPLYCHAIN_INVITE_DAYS", value)
    with pytest.raises(ValueError, match="SUPPLYCHAIN_INVITE_DAYS must be a whole number"):
        Config()


def test_a_code_is_the_secret_keys_word_on_its_salt():
    """The same salt and key give the same code (so the worker can write it later); another key
    or salt another code; the stored hash ignores case, spaces and dashes as activation does."""
    code = code_from_salt("key", "00ff")
    assert code == code_from_salt("key", "00ff")
    assert code != code_from_salt("other key", "00ff")
    assert code != code_from_salt("key", "00fe")
    assert len(code) == 19 and code.count("-") == 3
    assert code_hash(code) == code_hash(f" {code.lower().replace('-', ' ')} ")


def test_codes_made_in_a_batch_are_the_ones_a_salt_gives():
    """An import's codes (fresh_codes) are exactly what code_from_salt and code_hash give for
    their salts (activation and the worker's mail recompute them so); the salts are new."""
    batch = fresh_codes(3000, "key")
    assert len({fresh.salt for fresh in batch}) == 3000
    for fresh in batch:
        assert len(fresh.salt) == 32 and int(fresh.salt, 16) >= 0
        assert fresh.code == code_from_salt("key", fresh.salt)
        assert fresh.hash == code_hash(fresh.code)
    assert fresh_codes(0, "key") == []
