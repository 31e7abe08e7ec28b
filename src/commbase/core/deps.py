"""``Annotated`` dependencies for the app's shared services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from commbase.core.cache import Cache
from commbase.core.db import Database
from commbase.settings import Settings


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


def _database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


AppSettings = Annotated[Settings, Depends(_settings)]
AppCache = Annotated[Cache, Depends(_cache)]
AppDatabase = Annotated[Database, Depends(_database)]
