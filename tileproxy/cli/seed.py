"""``tileproxy-seed``: seeding arrives with its own issue; this entry point says so."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("tileproxy-seed: seeding is not implemented yet; tiles are created on demand while serving.",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
