"""How commands talk to the terminal: the consoles, exit codes and error messages, and
running a command's coroutine so that what the user got wrong is a message, not a
traceback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from commbase.core.errors import CommbaseError

# Soft wrap: keys and ids are printed whole, for the terminal to wrap, not cut.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

# Exit codes: 2 for a mistake in the command line (as click's usage errors), 1 when
# the command was understood but could not be done.
USAGE, REFUSED = 2, 1


def fail(message: str, *, code: int = USAGE) -> typer.Exit:
    """Print ``message`` as an error (no traceback); the ``typer.Exit`` to raise."""
    errors.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def field_messages(exc: ValidationError) -> str:
    """The validation errors as one line: ``field: message; ...``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or 'value'}: {err['msg']}"
        for err in exc.errors()
    )


async def settled(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro``, then let SQLite's worker threads finish before the loop closes.

    aiosqlite stops a connection that failed to open from its worker thread, which
    then reports back to the event loop; were the loop closed by then, the thread
    would die printing a traceback under the command's own error message.
    """
    try:
        return await coro
    finally:
        for thread in threading.enumerate():
            if thread.name.endswith("(_connection_worker_thread)"):
                await asyncio.to_thread(thread.join, 1.0)


def run_command(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; what the user got wrong is a message, not a traceback."""
    from sqlalchemy.exc import DBAPIError, InterfaceError

    try:
        return asyncio.run(settled(coro))
    except ValidationError as exc:
        raise fail(field_messages(exc)) from exc
    except CommbaseError as exc:
        details = [str(err.get("message")) for err in exc.errors or [] if err.get("message")]
        message = exc.detail + (f" ({'; '.join(details)})" if details else "")
        raise fail(message, code=REFUSED) from exc
    except (DBAPIError, InterfaceError, OSError) as exc:
        raise fail(f"cannot use the database: {exc}", code=REFUSED) from exc
