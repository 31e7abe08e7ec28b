"""The bare stack ``bench/auth.py`` compares ``GET /v1/me`` with: FastAPI and an
async SQLAlchemy session doing the same two reads (the organization and the user,
by id) and answering JSON, with nothing else (no auth, rate limit, middleware).

    BARE_DATABASE_URL=... BARE_ORG_ID=org_... BARE_USER_ID=usr_... \\
        .venv/bin/uvicorn bench._bare_me:app --port 8001

On SQLite the connection is set up as commbase sets its own (WAL, busy timeout)
and its transactions are plain deferred ``BEGIN``: a reader's best case. Its pool
keeps as many connections open as commbase's (20; ``core.db.POOL_SIZE``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from commbase.identity.models import Organization, User

DATABASE_URL = os.environ["BARE_DATABASE_URL"]
ORG_ID = os.environ["BARE_ORG_ID"]
USER_ID = os.environ["BARE_USER_ID"]


class OrgOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    slug: str
    account_type: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    name: str


class MeOut(BaseModel):
    organization: OrgOut
    user: UserOut


def _engine() -> Any:
    if not DATABASE_URL.startswith("sqlite"):
        return create_async_engine(DATABASE_URL, pool_size=20, max_overflow=10)
    engine = create_async_engine(DATABASE_URL, pool_size=20, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


engine = _engine()
sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=_lifespan)


@app.get("/v1/me", response_model=MeOut)
async def me() -> MeOut:
    async with sessions() as session:
        org = await session.get(Organization, ORG_ID)
        user = await session.get(User, USER_ID)
        if org is None or user is None:
            raise HTTPException(404)
        return MeOut(organization=OrgOut.model_validate(org), user=UserOut.model_validate(user))
