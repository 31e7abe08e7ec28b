"""``Annotated`` dependencies for the app's shared services.

Each is ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, a
thread hop per request for reading an attribute.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from commbase.core.cache import Cache
from commbase.core.db import Database
from commbase.settings import Settings


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


async def _database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


AppSettings = Annotated[Settings, Depends(_settings)]
AppCache = Annotated[Cache, Depends(_cache)]
AppDatabase = Annotated[Database, Depends(_database)]
