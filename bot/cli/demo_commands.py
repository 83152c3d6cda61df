"""The demo command."""

from __future__ import annotations

import typer

from bot.cli.console import app, out, run_command, settings_of, with_newsroom


@app.command()
def demo(ctx: typer.Context) -> None:
    """Sample readers, the sample story, delivery to file outboxes, and a page showing every message."""
    from bot.app.demo import run_demo  # the whole pipeline: loaded only when the demo runs

    report = run_command(with_newsroom(settings_of(ctx), run_demo))
    out.print(report.render(), markup=False)
