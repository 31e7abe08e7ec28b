"""Public ids: ``<prefix>_`` and a lower-case ULID, increasing in the order made."""

from __future__ import annotations

import itertools
import os
import time

import pytest
from ulid import ULID

from commbase.core import ids
from commbase.core.ids import new_id


def _ulid(public_id: str) -> ULID:
    return ULID.from_str(public_id.split("_", 1)[1].upper())


def test_an_id_is_the_prefix_and_a_lower_case_ulid_of_now() -> None:
    before = time.time()
    made = new_id("call")
    after = time.time()
    prefix, rest = made.split("_", 1)
    assert prefix == "call"
    assert len(rest) == 26
    assert rest == rest.lower()
    assert str(_ulid(made)).lower() == rest  # python-ulid reads it back unchanged
    assert before - 0.001 <= _ulid(made).timestamp <= after + 0.001


def test_ids_increase_within_a_millisecond_and_across_them() -> None:
    made = [new_id("evt") for _ in range(20_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    values = [int(_ulid(one)) for one in made]
    same_ms = [(a, b) for a, b in itertools.pairwise(values) if a >> 80 == b >> 80]
    assert same_ms  # 20,000 ids take a few milliseconds
    assert all(b == a + 1 for a, b in same_ms)


@pytest.mark.parametrize(
    ("ms", "randomness"),
    [(0, 1), ((1 << 48) - 1, (1 << 80) - 1), (1_700_000_000_000, 0x0123456789ABCDEF0123)],
)
def test_the_encoding_is_python_ulids(
    monkeypatch: pytest.MonkeyPatch, ms: int, randomness: int
) -> None:
    """Any millisecond and random part read as python-ulid writes them."""
    monkeypatch.setattr(time, "time_ns", lambda: ms * 1_000_000)
    monkeypatch.setattr(os, "urandom", lambda n: (randomness - 1).to_bytes(n, "big"))
    monkeypatch.setattr(ids, "_last", ids._Last())
    first, second = new_id("x"), new_id("x")
    expected = ULID.from_bytes(ms.to_bytes(6, "big") + randomness.to_bytes(10, "big"))
    assert int(_ulid(first)) == int(expected) - 1
    assert second == f"x_{str(expected).lower()}"


def test_a_millisecond_exhausted_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    monkeypatch.setattr(os, "urandom", lambda n: b"\xff" * n)
    monkeypatch.setattr(ids, "_last", ids._Last())
    assert new_id("x").endswith("z" * 16)
    with pytest.raises(ValueError, match="exhausted"):
        new_id("x")


def test_a_forked_child_does_not_count_on_from_its_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parent and child in the same millisecond: the child draws its own random part
    (counting on from the parent's last id would make the parent's next one)."""
    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    read, write = os.pipe()
    new_id("p")
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, new_id("p").encode())
        os._exit(0)
    parents = new_id("p")
    os.waitpid(pid, 0)
    childs = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert childs != parents
