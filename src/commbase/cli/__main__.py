"""``python -m commbase.cli``: the ``commbase`` command (how benchmarks and tests start
worker processes)."""

from commbase.cli import app

app()
