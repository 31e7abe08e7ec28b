"""Prefixed, sortable public ids (``usr_01jd...``), in the seeds' style."""

from __future__ import annotations

from ulid import ULID


def new_id(prefix: str) -> str:
    """Return ``<prefix>_<ulid>``: unique, and ordered by creation time.

    ULIDs are Crockford base32; lower-casing keeps their order because every
    letter sorts after every digit in both cases.
    """
    return f"{prefix}_{str(ULID()).lower()}"
