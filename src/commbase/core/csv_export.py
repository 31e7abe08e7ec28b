"""CSV downloads: streamed in pieces, every cell safe to open in a spreadsheet.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
read as a formula by Excel, LibreOffice and Google Sheets (CSV injection, OWASP).
Such text cells get a leading apostrophe, which spreadsheets show as text;
numbers are written as they are, so ``-5`` stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from fastapi.responses import StreamingResponse

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK_CHARS = 64_000


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]


async def csv_stream(header: list[str], rows: AsyncIterable[list[Any]]) -> AsyncIterator[str]:
    """CSV text in pieces of about 64 kB, as ``rows`` arrive, each cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(safe_row(header))
    async for row in rows:
        writer.writerow(safe_row(row))
        if buffer.tell() > CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(
    header: list[str], rows: AsyncIterable[list[Any]], filename: str
) -> StreamingResponse:
    """A streamed ``text/csv`` attachment named ``filename``."""
    return StreamingResponse(
        csv_stream(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
