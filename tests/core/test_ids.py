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


def test_ulid_values_and_texts_agree_with_python_ulid() -> None:
    """``next_ulid`` continues ``new_id``'s sequence; ``ulid_text``/``ulid_value`` write
    and read a ULID as python-ulid does (either case in), and refuse what is not one."""
    made = new_id("x")
    value = ids.next_ulid()
    assert value > ids.ulid_value(made.split("_", 1)[1])
    assert ids.ulid_text(value) == str(ULID.from_int(value)).lower()
    for sample in (0, 1, (1 << 128) - 1, int(ULID())):
        text = ids.ulid_text(sample)
        assert text == str(ULID.from_int(sample)).lower()
        assert ids.ulid_value(text) == ids.ulid_value(text.upper()) == sample
    for bad in ("", "0" * 25, "8" + "z" * 25, "0" * 25 + "u", "0" * 25 + "!"):
        with pytest.raises(ValueError, match="ULID"):
            ids.ulid_value(bad)


def test_ids_keep_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wall clock set back (NTP): the last id's millisecond goes on counting up."""
    clock = iter([1_700_000_000_005, 1_700_000_000_001, 1_700_000_000_003])
    monkeypatch.setattr(time, "time_ns", lambda: next(clock) * 1_000_000)
    monkeypatch.setattr(ids, "_last", ids._Last())
    made = [new_id("x") for _ in range(3)]
    assert made == sorted(made)
    assert len(set(made)) == 3
    assert {_ulid(one).timestamp for one in made} == {1_700_000_000.005}
