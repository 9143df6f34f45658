"""A required command-line value the user left out."""

from __future__ import annotations

import sys


def given(value: str | None, what: str) -> str | None:
    """``value``, or None after telling that ``what`` is missing."""
    if not value:
        print(f"error: give {what}", file=sys.stderr)
    return value or None
