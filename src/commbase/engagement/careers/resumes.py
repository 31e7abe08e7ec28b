"""Resumes on disk: one file per application under the configured folder, checked for
size and type (the declared media type must be allowed and the file must start as
that type does), written atomically, read back for staff."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import after_commit, after_rollback
from commbase.core.errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

# What a file of each accepted type starts with, and the extension it is stored with.
SIGNATURES: dict[str, tuple[bytes, str]] = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "application/msword": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".doc"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        b"PK\x03\x04",
        ".docx",
    ),
    "text/plain": (b"", ".txt"),
}


@dataclass(frozen=True)
class ResumePolicy:
    folder: Path
    max_bytes: int
    types: frozenset[str]


@dataclass(frozen=True)
class StoredResume:
    path: str  # absolute, so erasure and retention find it without the settings
    size: int
    sha256: str
    content_type: str


def check(content: bytes, content_type: str | None, policy: ResumePolicy) -> str:
    """The media type of an acceptable resume; 413, 415 or 422 otherwise."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in policy.types or media_type not in SIGNATURES:
        raise UnsupportedMediaType(
            f"Resumes are accepted as {', '.join(sorted(policy.types))}",
            accepted=sorted(policy.types),
        )
    if len(content) > policy.max_bytes:
        raise PayloadTooLarge(f"Resumes are limited to {policy.max_bytes} bytes")
    if not content:
        raise ValidationFailed(
            "The resume is empty",
            errors=[{"loc": ["body"], "field": "body", "message": "empty file"}],
        )
    signature = SIGNATURES[media_type][0]
    if not content.startswith(signature):
        raise UnsupportedMediaType(
            f"The file is not a {media_type} document", accepted=sorted(policy.types)
        )
    return media_type


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(content)
    os.replace(partial, target)


async def store(
    policy: ResumePolicy, *, org_id: str, application_id: str, content: bytes, media_type: str
) -> StoredResume:
    digest = hashlib.sha256(content).hexdigest()
    name = f"{application_id}-{digest[:16]}{SIGNATURES[media_type][1]}"
    target = (policy.folder / org_id / name).resolve()
    await asyncio.to_thread(_write, target, content)
    return StoredResume(str(target), len(content), digest, media_type)


async def read(path: str) -> bytes:
    """The stored file; NotFound when it is gone from the disk."""
    try:
        return await asyncio.to_thread(Path(path).read_bytes)
    except FileNotFoundError as exc:
        raise NotFound("The resume file is missing from storage") from exc


async def remove(*paths: str) -> None:
    """Delete stored resumes (missing files are fine)."""
    for path in paths:
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)


def remove_after_commit(session: AsyncSession, *paths: str | None) -> None:
    """Delete these files once ``session`` commits (never if it rolls back)."""
    kept = [p for p in paths if p]
    if not kept:
        return

    async def drop() -> None:
        await remove(*kept)

    after_commit(session, drop)


def remove_after_rollback(session: AsyncSession, path: str) -> None:
    """Delete a file just written if ``session``'s transaction does not commit, so no
    file is left on disk without the row that names it."""

    async def drop() -> None:
        await remove(path)

    after_rollback(session, drop)
