"""Re-record mapproxy-util 7.0's output for tests/test_cli_util_tools.py (not run in CI).

    python3 bench/record_mapproxy_util.py [path/to/mapproxy-util]

Runs each case of tests/data/mapproxy_util/cases.txt in that directory and writes <name>.out.
"{wms}" in a case is the URL of a local HTTP server serving that directory (the recorded
capabilities documents).
Normalisation: lines MapProxy's logging prints to stdout ("[2026-...] mapproxy.x - WARNING - ...")
are dropped, and the time stamp of a tool's own logged lines ("[2026-...] message");
in autoconfig's header, the time and the command line become "<time>" and "<command>", and
the path of that directory (autoconfig's "base:") "{data}", the server's URL "{wms}"
(tests/test_cli_util_tools.py normalises tileproxy's output the same way).
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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


LOGGED = re.compile(r"^\[20[^\]]*\] ")  # "[2026-12-05 08:30:00,123] " of a logging line
LOGGER_LINE = re.compile(r"^\[20[^\]]*\] \S+ - [A-Z]+ - ")  # "[...] mapproxy.config - WARNING - "


def without_log_lines(text: str) -> str:
    """``text`` without MapProxy's warnings, and without the time stamps of the lines
    that are a tool's output (defrag-compact-cache's: "[time] message")."""
    lines = (line for line in text.splitlines(keepends=True) if not LOGGER_LINE.match(line))
    return "".join(LOGGED.sub("", line) for line in lines)


def normalised(text: str, wms: str) -> str:
    text = re.sub(r"^# Created on .* with:\n(#.*\n)*", "# Created on <time> with:\n# <command>\n", text, flags=re.M)
    return text.replace(str(DATA), "{data}").replace(wms, "{wms}")


def main() -> None:
    tool = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_TOOL)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(DATA))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wms = f"http://127.0.0.1:{server.server_address[1]}"
    for name, args in cases():
        args = [a.replace("{wms}", wms) for a in args]
        out = subprocess.run([tool, *args], cwd=DATA, capture_output=True, text=True).stdout
        (DATA / f"{name}.out").write_text(normalised(without_log_lines(out), wms))
        print(f"recorded {name}")


if __name__ == "__main__":
    main()
