"""Re-record mapproxy-util 7.0's output for tests/test_cli_util_tools.py (not run in CI).

    python3 bench/record_mapproxy_util.py [path/to/mapproxy-util]

Runs each case of tests/data/mapproxy_util/cases.txt in that directory and writes <name>.out.
Normalisation: lines MapProxy's logging prints to stdout ("[2026-... WARNING ...") are dropped.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "mapproxy_util"
DEFAULT_TOOL = Path(__file__).resolve().parent / ".venv-mapproxy" / "bin" / "mapproxy-util"


def cases() -> list[tuple[str, list[str]]]:
    result = []
    for line in (DATA / "cases.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, args = line.partition(":")
            result.append((name.strip(), shlex.split(args)))
    return result


def without_log_lines(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("[20"))


def main() -> None:
    tool = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_TOOL)
    for name, args in cases():
        out = subprocess.run([tool, *args], cwd=DATA, capture_output=True, text=True).stdout
        (DATA / f"{name}.out").write_text(without_log_lines(out))
        print(f"recorded {name}")


if __name__ == "__main__":
    main()
