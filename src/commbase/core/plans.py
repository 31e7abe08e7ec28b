"""Custom plans for analytics reads on PostgreSQL; every other statement keeps the default.

asyncpg prepares every statement, and from a prepared statement's sixth run PostgreSQL
may switch to a generic plan, made once and blind to the parameters' values
(``plan_cache_mode = auto``, its default). Most statements lose nothing and save their
planning; bulk writes save most, since each row's foreign-key checks are cached plans
too (with ``force_custom_plan`` on every connection, tracked-event ingest spent ~10 ms
of PostgreSQL CPU per 1,000 rows and inbound filing ~80 us per message planning them).

Analytics reads must not get generic plans: the data-version statement (facts changed
since the rollup watermark within the requested range, ``analytics.planner``) ran 63-97
ms on a generic plan instead of 0.5 ms (200,000 calls), and the live tail's first
version scanned all 90 days (2 s instead of 90 ms). So ``analytics.planner.plan`` and
``analytics.query.execute`` call ``custom_plans`` on the session they read with:

* in a transaction: ``SET LOCAL plan_cache_mode = force_custom_plan``, until it ends;
* in autocommit (a read request's session, ``core.readonly``): the connection's own
  setting (``set_config``, a read for the read-request guard), reset to the default
  when the connection returns to the pool;
* on a connection that always plans custom (an engine with the ``CUSTOM_PLANS``
  execution option: the replicas', ``core.replicas``): nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import Pool, PoolResetState
from sqlalchemy.util import await_only

# Execution option of an engine whose connections plan every execution (set at connect).
CUSTOM_PLANS = "commbase_custom_plans"
# Connection.info (the pooled connection's): "local" (this transaction) or "session".
_SET = "commbase.custom_plans"


async def custom_plans(session: AsyncSession) -> None:
    """Make PostgreSQL plan each of ``session``'s next statements for its parameters:
    until its transaction ends, or (autocommit) until its connection is returned."""
    if session.get_bind().dialect.name != "postgresql":
        return
    connection = await session.connection()
    sync = connection.sync_connection
    assert sync is not None
    options = sync.get_execution_options()
    if sync.info.get(_SET) or options.get(CUSTOM_PLANS):
        return
    if options.get("isolation_level") == "AUTOCOMMIT":
        await connection.exec_driver_sql(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', false)"
        )
        sync.info[_SET] = "session"
    else:
        await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        sync.info[_SET] = "local"


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _transaction_ended(connection: Connection) -> None:
    # An invalidated connection (lost) is gone with what was set on it; asking for its
    # info would raise instead of letting the rollback that follows an outage end.
    if not connection.invalidated and connection.info.get(_SET) == "local":
        del connection.info[_SET]


@event.listens_for(Engine, "rollback_savepoint")
def _savepoint_undone(connection: Connection, _name: Any, _context: Any) -> None:
    # A SET LOCAL sent inside the savepoint is undone with it: send it again if asked.
    _transaction_ended(connection)


@event.listens_for(Pool, "reset")
def _returned(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
    if record is None or record.info.pop(_SET, None) != "session":
        return
    if state.terminate_only or not state.asyncio_safe:
        return  # the connection is being closed
    # On the driver's connection: no transaction around it (the adapter would begin one,
    # and the pool's rollback-on-return would undo the RESET). Failing, the pool
    # invalidates the connection rather than lend it out planning custom.
    await_only(dbapi_connection.driver_connection.execute("RESET plan_cache_mode"))
