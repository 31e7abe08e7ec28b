"""What the browser tests of the dashboard and of video calls share: Debian's Chromium,
the artifacts folder, a uvicorn server in a thread on a free port, a client of its
API with an API key, and the module's headless browser (``browser_args`` per module).

Playwright is imported by the ``browser`` fixture only, so the directory's other tests
run without it."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("COMMBASE_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
HEADLESS_ARGS = ["--no-sandbox", "--disable-gpu"]
no_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A running server's base URL and an API key of its organization."""

    def __init__(self, base: str, api_key: str) -> None:
        self.base = base
        self.api_key = api_key

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.request(method, self.base + path, headers=headers, timeout=10, **kwargs)


@contextmanager
def serving(app: FastAPI, port: int, **config: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1:``port`` in a thread; yields its base URL and
    stops it on the way out."""
    running = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            **config,
        )
    )
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    try:
        while not running.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser_args() -> list[str]:
    """Chromium's command-line switches; a module overrides this fixture for more."""
    return HEADLESS_ARGS


@pytest.fixture(scope="module")
def browser(browser_args: list[str]) -> Iterator[Any]:
    """One headless Chromium for the module."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=browser_args)
        yield launched
        launched.close()
