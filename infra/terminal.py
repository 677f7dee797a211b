"""The consoles of the command line. Everything they print is literal: run names, paths, config values and error
messages can hold ``[...]`` or ``:name:``, which rich would otherwise read as markup or emoji codes."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

out = Console(soft_wrap=True, markup=False, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)


def warn(message: str) -> None:
    err.print(Text.assemble(("warning:", "yellow"), " ", message))


def fail(message: str, code: int) -> None:
    """Print ``error: message`` to stderr and exit with ``code`` (1 a failure, 2 bad input)."""
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    raise typer.Exit(code)
