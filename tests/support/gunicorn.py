"""tileproxy.deploy under a real gunicorn, for tests of what clients see of a
production setup."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the project, put on the workers' PYTHONPATH


class Gunicorn:
    """tileproxy.deploy under gunicorn on a port the kernel picks (read from its log)."""

    def __init__(self, directory: Path, env: dict[str, str], workers: int = 2, args: tuple[str, ...] = ()):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", "127.0.0.1:0", *args,
             "tileproxy.deploy:application"],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=directory,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.base = ""
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.log.append(line)
            found = re.search(r"Listening at: (http://\S+)", line)
            if found:
                self.base = found.group(1)
                break

    def kill(self) -> None:
        """SIGKILL the master and its workers at once, as when a node dies."""
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in children.split()]
        except OSError:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)

    def stop(self) -> str:
        self.proc.terminate()
        rest = self.proc.communicate(timeout=30)[1]
        return "".join(self.log) + (rest or "")
