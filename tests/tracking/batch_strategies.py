"""Batches of events for property tests of ingest's paths: mostly plain, sometimes
odd in any field (``test_screening``, ``test_plain``)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from commbase.tracking.screening import _TIME

ABSENT = object()
NAMES = st.sampled_from(
    [
        "page.scrolled",
        "a:b-c_d",
        " page.scrolled",
        "page scrolled",
        "",
        "x" * 100,
        "x" * 101,
        "a\n",
        "a\nb",
        5,
        None,
    ]
)
IDS = st.one_of(
    st.sampled_from([ABSENT, None, "id-1", "id 1", "x" * 64, "x" * 65, "", " id", "a\nb", 3]),
    st.from_regex(r"[A-Za-z0-9_.:-]{1,70}", fullmatch=True),
)
REFERENCES = st.one_of(
    st.sampled_from([ABSENT, None, "u", " u", "u ", "", "u" * 64, "u" * 65, "a\tb", 7, True]),
    st.text(max_size=70),
)
DATA = st.one_of(
    st.sampled_from([ABSENT, None, {}, [], "x", {"a": {" b ": 1}}, {" k": 1}, {"k\n": 2}]),
    st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=3), max_size=3),
)
METADATA = st.one_of(
    st.sampled_from(
        [
            ABSENT,
            None,
            {},
            [],
            {"ip_address": "1.2.3.4"},
            {"ip_address": "1.2.3.4\n"},
            {"ip_address": ""},
            {"ip_address": "10.0.0.x"},
            {"ip_address": "f" * 46},
            {"ip_address": None},
            {"user_agent": "a" * 1024},
            {"user_agent": "a" * 1025},
            {"user_agent": 1},
            {"sdk_version": "2.4.1"},
            {"sdk_version": "v" * 51},
            {"platform": [1, {"x": None}]},
            {" ip_address": "x"},
        ]
    ),
    st.dictionaries(st.text(max_size=4), st.text(max_size=3), max_size=2),
)
TIMES = st.one_of(
    st.sampled_from(
        [
            ABSENT,
            None,
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00.1234567Z",
            "2026-11-20T10:00:00.5-00:00",
            "2026-11-20T10:00:00+23:59",
            "2026-11-20 10:00:00Z",
            "2026-11-20T10:00:00",
            "2026-11-20t10:00:00z",
            "2026-02-30T10:00:00Z",
            "2026-11-20T24:00:00Z",
            "2026-11-20T10:00:60Z",
            "2026-11-20T10:00:00+24:00",
            "2026-11-20T10:00:00+05:60",
            "2026-11-20T10:00:00-00:75",
            "0000-01-01T00:00:00Z",
            1764410000,
            "2026-11-20T10:00:00Z\n",
        ]
    ),
    st.from_regex(_TIME, fullmatch=True),
    # The shape with any two-digit offset, day or time: what the screen's own pattern
    # leaves out is generated too.
    st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,7})?"
        r"(?:Z|[+-][0-9]{2}:[0-9]{2})",
        fullmatch=True,
    ),
)


def mostly(plain: Any, odd: st.SearchStrategy[Any], share: int) -> st.SearchStrategy[Any]:
    """``plain`` ``share`` times in ``share + 1``, else a value of ``odd``: batches whose
    every field is plain, which the fast paths take, come up often enough to compare."""
    return st.one_of(*[st.just(plain)] * share, odd)


def items(share: int = 4) -> st.SearchStrategy[Any]:
    """A batch's item: mostly an event whose every field is plain but one in ``share +
    1``; else no object at all."""
    event = st.fixed_dictionaries(
        {
            "type": mostly("page.scrolled", st.one_of(st.just(ABSENT), NAMES), share),
            "id": mostly("id-1", IDS, share),
            "user_id": mostly("usr_1", REFERENCES, share),
            "session_id": mostly(ABSENT, REFERENCES, share),
            "account_id": mostly(None, REFERENCES, share),
            "data": mostly({"k": 1}, DATA, share),
            "metadata": mostly({"sdk_version": "2"}, METADATA, share),
            "timestamp": mostly("2026-11-20T09:00:00.25+01:00", TIMES, share),
            "expires_at": mostly(ABSENT, TIMES, share),
            "colour": mostly(ABSENT, st.just("red"), share),
        }
    ).map(lambda fields: {key: value for key, value in fields.items() if value is not ABSENT})
    return st.one_of(event, event, event, st.sampled_from([42, "event", None, []]))


ITEM = items()
