"""tileproxy under a real granian (``tileproxy serve`` or ``granian ... tileproxy.deploy``),
for tests of what clients see of the production server. granian binds port 0 and
logs no port, so the port is read from the listening sockets of its processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent  # the project, put on the workers' PYTHONPATH


def process_tree(root: int) -> set[int]:
    """``root`` and its living descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def listening_ports(pids: set[int]) -> set[int]:
    """The TCP ports that sockets of ``pids`` listen on."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Granian:
    """A granian server started with ``args`` (after ``python -m``), on 127.0.0.1 port 0;
    ``base`` is its URL once every worker listens. Use as a context manager."""

    def __init__(self, args: list[str], directory: Path, env: dict[str, str] | None = None, workers: int = 2,
                 timeout: float = 60.0):
        pytest.importorskip("granian", reason="granian is a test dependency (pip install -e '.[test]')")
        if not Path("/proc/net/tcp").exists():
            pytest.skip("finds granian's port in /proc")
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("TILEPROXY_CONFIG", "MAPPROXY_CONFIG", "TILEPROXY_CONFIG_DIR", "TILEPROXY_AUTH_POLICY")}
        self.workers = workers
        self.proc = subprocess.Popen([sys.executable, "-m", *args], cwd=directory,
                                     env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._drain = threading.Thread(target=self._read, daemon=True)  # never blocks the server
        self._drain.start()
        self.base = ""
        try:
            self.base = f"http://127.0.0.1:{self._wait_listening(timeout)}"
        except BaseException:
            print(self.stop())
            raise

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line)

    def _wait_listening(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"granian exited with {self.proc.returncode}:\n{self.log}")
            if len(self.workers_now()) >= self.workers:
                ports = listening_ports(process_tree(self.proc.pid))
                if len(ports) == 1:
                    port = ports.pop()
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
                        return port
                    except urllib.error.HTTPError:
                        return port
                    except OSError:
                        pass
            time.sleep(0.05)
        raise AssertionError(f"granian did not listen within {timeout:.0f} s:\n{self.log}")

    def wait_workers(self, old: set[int] = frozenset(), timeout: float = 30.0) -> set[int]:
        """Wait until every worker runs, none of ``old`` among them, and each listens; returns their pids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.workers_now()
            if len(now) == self.workers and not now & old and all(listening_ports({p}) for p in now):
                return now
            time.sleep(0.05)
        raise AssertionError(f"granian's workers did not start within {timeout:.0f} s:\n{self.log}")

    def workers_now(self) -> set[int]:
        """The pids of the worker processes (the server's children)."""
        return process_tree(self.proc.pid) - {self.proc.pid}

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self) -> str:
        """Stop the server; returns everything it logged."""
        if self.proc.poll() is None:
            tree = process_tree(self.proc.pid)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in tree:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait()
        self._drain.join(timeout=10)
        return self.log

    def __enter__(self) -> Granian:
        return self

    def __exit__(self, *exc) -> None:
        print(self.stop())  # shown when the test fails


def serve_command(config: Path, *extra: str, workers: int = 2) -> list[str]:
    """``tileproxy serve CONFIG`` (granian, its own thread settings) on port 0, for :class:`Granian`."""
    return ["tileproxy.cli.main", "serve", str(config), "-b", "127.0.0.1:0", "--workers", str(workers),
            "--graceful-timeout", "3", *extra]


def deploy_command(workers: int = 2, threads: int = 16) -> list[str]:
    """granian itself on ``tileproxy.deploy:application`` (set TILEPROXY_CONFIG), port 0."""
    return ["granian", "--interface", "wsgi", "--no-ws", "--workers", str(workers), "--blocking-threads",
            str(threads), "--runtime-mode", "st", "--host", "127.0.0.1", "--port", "0",
            "--respawn-failed-workers", "--respawn-interval", "0.2", "--workers-kill-timeout", "3",
            "tileproxy.deploy:application"]
