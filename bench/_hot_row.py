"""The commit ceiling of one hot row on PostgreSQL, which bounds any design that commits
each debit of one wallet on its own (``bench/wallet.py``)."""

from __future__ import annotations

import asyncio
import time

import asyncpg  # type: ignore[import-untyped]

from bench._common import asyncpg_params


async def hot_row_ceiling(
    url: str, *, concurrency: int, seconds: float, synchronous_commit: bool
) -> float:
    """Commits/s of the least a debit can do on PostgreSQL: ``concurrency`` raw asyncpg
    connections each looping ``BEGIN; UPDATE one row; COMMIT`` on a scratch table.
    The row lock is held through the commit's WAL flush, so this bounds any design
    that commits each debit of one wallet on its own."""
    settings = {} if synchronous_commit else {"synchronous_commit": "off"}
    pool = await asyncpg.create_pool(
        **asyncpg_params(url),
        min_size=concurrency,
        max_size=concurrency,
        server_settings=settings,
    )
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_hot_row (id int PRIMARY KEY, n bigint NOT NULL);"
            "INSERT INTO bench_hot_row VALUES (1, 0) ON CONFLICT DO NOTHING"
        )
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            async with pool.acquire() as connection:
                while time.perf_counter() < deadline:
                    async with connection.transaction():
                        await connection.execute("UPDATE bench_hot_row SET n = n + 1 WHERE id = 1")
                    done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await pool.execute("DROP TABLE bench_hot_row")
        return done / elapsed
    finally:
        await pool.close()
