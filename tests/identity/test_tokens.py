"""Token format: prefix, checksum, HMAC storage."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from commbase.identity import tokens
from commbase.identity.devices import parse_device
from commbase.identity.tokens import TokenKind

ALPHABET = string.digits + string.ascii_letters


def test_generated_tokens_classify_by_prefix() -> None:
    for prefix, kind in tokens.PREFIXES.items():
        new = tokens.generate(prefix)
        assert new.token.startswith(prefix)
        assert new.prefix == new.token[:12]
        assert tokens.classify(new.token) is kind
    assert tokens.classify("sk_live_abcdef") is None
    assert tokens.classify("cb_live_") is None


@given(position=st.integers(min_value=0), replacement=st.sampled_from(ALPHABET))
def test_any_single_character_change_is_detected(position: int, replacement: str) -> None:
    token = tokens.generate("cb_live_").token
    body_start = len("cb_live_")
    index = body_start + position % (len(token) - body_start)
    if token[index] == replacement:
        return
    mutated = token[:index] + replacement + token[index + 1 :]
    assert tokens.classify(mutated) is None


def test_hash_depends_on_the_server_secret() -> None:
    token = tokens.generate("cb_sess_", length=40).token
    first = tokens.hash_token(token, secret="one secret")
    assert first == tokens.hash_token(token, secret="one secret")
    assert first != tokens.hash_token(token, secret="another secret")
    assert token not in first


def test_derived_tokens_are_stable_and_valid() -> None:
    a = tokens.derive("cb_test_", secret="s", label="demo")
    b = tokens.derive("cb_test_", secret="s", label="demo")
    c = tokens.derive("cb_test_", secret="t", label="demo")
    assert a == b
    assert a.token != c.token
    assert tokens.classify(a.token) is TokenKind.API_KEY


def test_device_parsing() -> None:
    ipad = parse_device(
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
    )
    assert ipad.type == "tablet"
    bot = parse_device("Googlebot/2.1 (+http://www.google.com/bot.html)")
    assert bot.type == "bot"
    android = parse_device(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
    )
    assert (android.type, android.os) == ("mobile", "Android 14")
    assert parse_device(None).type == "other"
    assert parse_device("RingezSDK/1.0").type == "other"
