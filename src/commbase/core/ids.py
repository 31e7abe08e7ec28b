"""Prefixed, sortable public ids (``usr_01jd...``), in the seeds' style."""

from __future__ import annotations

import os
import threading
import time

# Crockford's base32, lower-cased: every letter sorts after every digit in both cases,
# so lower-casing keeps a ULID's order.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Every 10 bits as their two characters: a ULID's 130 bits (two leading zeros, 48 of
# milliseconds, 80 random) are 13 look-ups.
_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]
_MAX_RANDOMNESS = (1 << 80) - 1


class _Last:
    """The last id's millisecond, its random part and the millisecond's 10 characters."""

    __slots__ = ("head", "lock", "ms", "randomness")

    def __init__(self) -> None:
        self.afresh()

    def afresh(self) -> None:
        # A new lock too: a fork while another thread held it leaves the child's held.
        self.lock = threading.Lock()
        self.ms = -1
        self.randomness = 0
        self.head = ""


_last = _Last()
# A forked child starts afresh: counting up from its parent's last id would repeat the
# parent's next one.
os.register_at_fork(after_in_child=_last.afresh)


def new_id(prefix: str) -> str:
    """Return ``<prefix>_<ulid>``: unique, and ordered by creation time.

    The ULID python-ulid's ``str(ULID()).lower()`` gives, built without its objects:
    the current millisecond (``time.time_ns``) and 80 random bits (``os.urandom``);
    within one millisecond the random part counts up from the previous id's, so ids
    made in this process are strictly increasing (``ValueError`` on exhausting the
    millisecond's 2**80, as python-ulid's strict policy), across threads too and when
    the clock steps back (the last id's millisecond then goes on counting up).
    """
    _, head, randomness = _next()
    pairs = _PAIRS
    return (
        f"{prefix}_{head}{pairs[randomness >> 70]}{pairs[(randomness >> 60) & 1023]}"
        f"{pairs[(randomness >> 50) & 1023]}{pairs[(randomness >> 40) & 1023]}"
        f"{pairs[(randomness >> 30) & 1023]}{pairs[(randomness >> 20) & 1023]}"
        f"{pairs[(randomness >> 10) & 1023]}{pairs[randomness & 1023]}"
    )


def next_ulid() -> int:
    """The next ULID of :func:`new_id`'s sequence, as its 128-bit value."""
    ms, _, randomness = _next()
    return ms << 80 | randomness


def ulid_text(value: int) -> str:
    """A 128-bit ULID value as :func:`new_id` writes it (26 characters, lower case)."""
    pairs = _PAIRS
    return "".join(pairs[value >> shift & 1023] for shift in range(120, -1, -10))


def ulid_value(text: str) -> int:
    """The 128-bit value of a ULID written in Crockford's base32 (either case);
    ValueError if it is not one."""
    if len(text) != 26:
        raise ValueError(f"a ULID has 26 characters, not {len(text)}")
    value = 0
    for character in text.lower():
        digit = _ALPHABET.find(character)
        if digit < 0:
            raise ValueError(f"{character!r} is not a ULID character")
        value = value << 5 | digit
    if value >> 128:
        raise ValueError("a ULID is at most 128 bits")
    return value


def _next() -> tuple[int, str, int]:
    """The next ULID's millisecond, its first 10 characters and its random part."""
    last = _last
    with last.lock:
        ms = max(time.time_ns() // 1_000_000, last.ms)
        if ms == last.ms:
            randomness = last.randomness + 1
            if randomness > _MAX_RANDOMNESS:
                raise ValueError("Randomness within same millisecond exhausted")
            head = last.head
        else:
            randomness = int.from_bytes(os.urandom(10), "big")
            pairs = _PAIRS
            head = (
                f"{pairs[ms >> 40 & 1023]}{pairs[ms >> 30 & 1023]}{pairs[ms >> 20 & 1023]}"
                f"{pairs[ms >> 10 & 1023]}{pairs[ms & 1023]}"
            )
            last.ms = ms
            last.head = head
        last.randomness = randomness
    return ms, head, randomness
