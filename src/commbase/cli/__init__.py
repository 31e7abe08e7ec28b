"""The ``commbase`` command: serve, worker, migrate, demo, users, keys, jobs.

This module wires the commands together; each group lives in its own module:
``database`` (migrate, demo), ``processes`` (serve and the workers), ``users`` (users
and API keys), ``jobs`` (scheduled jobs and backfill), ``console`` (output, errors and
exit codes shared by all of them).
"""

from __future__ import annotations

import typer

from commbase.cli.database import alembic_config, database_revision, demo, migrate, migrate_database
from commbase.cli.jobs import backfill, jobs_app
from commbase.cli.processes import effects_app, serve, webhooks_app, worker
from commbase.cli.users import keys_app, users_app

__all__ = ["alembic_config", "app", "database_revision", "migrate_database"]

app = typer.Typer(
    help="commbase: backend for voice, video and chat businesses.", no_args_is_help=True
)
# In this order in `commbase --help`.
app.command()(migrate)
app.command()(serve)
app.command()(worker)
app.command()(demo)
app.command()(backfill)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(jobs_app, name="jobs")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(effects_app, name="effects")
