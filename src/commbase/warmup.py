"""What a serving process does at start-up so its first requests do not: the first
page of a fresh process paid ~1.5 s of CPU for it before (``bench/web_pages.py``).

- FastAPI (0.16x) builds each route's dependency tree, parameter models and response
  field lazily, when a request first walks past the route: the first request of a
  process paid for every route matched before its own, ~1 s of CPU on this app's
  ~390 routes (the dashboard's are mounted last). Asking for the URL of a route that
  does not exist walks them all.
- Jinja compiles a template to Python on its first render (~50-100 ms a page).
- The analytics metric registry imports its declarations on first use.
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from jinja2 import Environment
from starlette.routing import NoMatchFound

from commbase.analytics import registry

_NO_ROUTE = "commbase-warm-up-no-such-route"


def warm_up(app: FastAPI, *templates: Environment) -> None:
    """Build every route of ``app``, compile every template of ``templates`` and load
    the metric registry now."""
    with contextlib.suppress(NoMatchFound):
        app.url_path_for(_NO_ROUTE)
    for environment in templates:
        for name in environment.list_templates():
            environment.get_template(name)
    for key in registry.registered_sources():
        registry.declared_signature(key)
