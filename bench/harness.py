"""Reusable parts of the benchmarks: a local tile source, gunicorn or granian processes
for tileproxy and MapProxy, nginx serving files, memory sampling, wrk runs and cache
fingerprints.

Only the Python standard library and Pillow are used here, so the driver runs
under the same python3 as tileproxy.
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
MAPPROXY_VENV = BENCH_DIR / ".venv-mapproxy"
WRK_LUA = BENCH_DIR / "rotate.lua"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a local tile source -------------------------------------------------------


def render_source_tile(z: int, x: int, y: int) -> bytes:
    """A deterministic 256x256 RGB PNG: shaded background, a varying number of lines
    and a label, so tile sizes spread from about 1 KB to 20 KB like a real map's."""
    from PIL import Image, ImageDraw

    rnd = random.Random(f"{z}/{x}/{y}")
    base = (80 + 20 * z % 160, 120 + (x * 37) % 120, 140 + (y * 53) % 110)
    img = Image.new("RGB", (256, 256), base)
    draw = ImageDraw.Draw(img)
    for _ in range(rnd.choice((0, 0, 2, 5, 10, 20))):
        pts = [(rnd.randrange(256), rnd.randrange(256)) for _ in range(4)]
        color = tuple(rnd.randrange(256) for _ in range(3))
        draw.line(pts, fill=color, width=rnd.choice((1, 2, 3)))
    draw.rectangle((0, 0, 255, 255), outline=(40, 40, 40))
    draw.text((8, 8), f"{z}/{x}/{y}", fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _render_to(args: tuple[str, int, int, int]) -> None:
    path, z, x, y = args
    data = render_source_tile(z, x, y)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def prerender_source_tiles(directory: Path, tiles: list[tuple[int, int, int]]) -> int:
    """Render the source tiles not yet in ``directory`` (z/x/y.png) on all cores, so
    that seeding measures the apps, not the source. Returns how many were rendered."""
    from concurrent.futures import ProcessPoolExecutor

    todo = [(str(directory / f"{z}/{x}/{y}.png"), z, x, y) for z, x, y in tiles
            if not (directory / f"{z}/{x}/{y}.png").exists()]
    if todo:
        with ProcessPoolExecutor() as pool:
            list(pool.map(_render_to, todo, chunksize=64))
    return len(todo)


class LocalHTTPServer:
    """A threaded HTTP/1.1 server on 127.0.0.1, used as a context manager; subclasses
    answer GETs in ``answer(path) -> (status, content type, body)``."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_GET(self) -> None:  # noqa: N802
                status, ctype, body = outer.answer(self.path)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client left (a server stopped)
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class TileSourceServer(LocalHTTPServer):
    """An XYZ tile server on 127.0.0.1: ``/tiles/<z>/<x>/<y>.png`` (y from the top),
    from the files in ``directory`` (rendered there when missing). ``requests``
    counts tile requests, so a run can prove it created no tiles."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.requests = 0
        self.delay = 0.0  # seconds each answer waits, as a slow source would
        self._lock = threading.Lock()
        self.url_template = f"http://127.0.0.1:{self.port}/tiles/%(z)s/%(x)s/%(y)s.png"

    def answer(self, path: str) -> tuple[int, str, bytes]:
        body = self._answer(path)
        return (404, "text/plain", b"") if body is None else (200, "image/png", body)

    def _answer(self, path: str) -> bytes | None:
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) != 4 or parts[0] != "tiles" or not parts[3].endswith(".png"):
            return None
        try:
            z, x, y = int(parts[1]), int(parts[2]), int(parts[3][:-4])
        except ValueError:
            return None
        if not (0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        with self._lock:
            self.requests += 1
        if self.delay:
            time.sleep(self.delay)
        file = self.directory / f"{z}/{x}/{y}.png"
        if not file.exists():
            _render_to((str(file), z, x, y))
        return file.read_bytes()


# -- servers under gunicorn or granian -------------------------------------------------

# granian's settings for both apps: those of ``tileproxy serve`` (tileproxy/cli/production.py)
GRANIAN_THREADS = 16
GRANIAN_RUNTIME_MODE = "st"


@dataclass
class ServerSpec:
    """How to start one app under gunicorn or granian."""

    name: str
    python: str
    app: str  # module:callable
    env: dict[str, str]
    chdir: str
    workers: int = 2
    worker_class: str = "sync"
    threads: int = 1  # per worker, for worker_class gthread
    cpus: tuple[int, ...] | None = None  # cores the master and its workers may run on (None: any)
    headers: dict[str, str] = field(default_factory=dict)  # what every client request carries (an API key)
    server: str = "gunicorn"  # or "granian"
    blocking_threads: int = GRANIAN_THREADS  # granian: Python threads per worker
    backpressure: int | None = None  # granian: requests per worker at once (None: granian's default)
    runtime_mode: str = GRANIAN_RUNTIME_MODE  # granian: st or mt


def tileproxy_spec(config: Path, workers: int) -> ServerSpec:
    env = {"TILEPROXY_CONFIG": str(config), "PYTHONPATH": str(REPO_DIR), "TILEPROXY_LOG_LEVEL": "WARNING"}
    return ServerSpec("tileproxy", sys.executable, "tileproxy.deploy:application", env, str(config.parent), workers)


def mapproxy_spec(config: Path, workers: int) -> ServerSpec:
    wsgi = config.parent / "mapproxy_wsgi.py"
    wsgi.write_text(
        "# written by bench/: MapProxy's WSGI app for gunicorn\n"
        "from mapproxy.wsgiapp import make_wsgi_app\n"
        f"application = make_wsgi_app({str(config)!r})\n"
    )
    python = str(MAPPROXY_VENV / "bin" / "python")
    return ServerSpec("MapProxy", python, "mapproxy_wsgi:application", {"PYTHONPATH": str(config.parent)},
                      str(config.parent), workers)


BENCH_API_KEY = "bench-api-key-0123456789abcdef"


def policy_spec(config: Path, workers: int, layer: str) -> ServerSpec:
    """tileproxy behind tileproxy.auth.PolicyMiddleware: one user with one API key and grants
    for 10 layers (``layer`` and nine others), the key sent with every request."""
    sys.path.insert(0, str(REPO_DIR))
    from tileproxy.auth.secrets import hash_api_key

    others = ", ".join(f"other{i}" for i in range(1, 10))
    policy = config.parent / "policy.yaml"
    policy.write_text(
        "# written by bench/: one API key, 10 layers\n"
        "users:\n  bench:\n"
        f"    api_keys: ['{hash_api_key(BENCH_API_KEY)}']\n"
        f"    allow:\n      - {{services: [tms, wmts, wms], layers: [{layer}, {others}]}}\n")
    spec = tileproxy_spec(config, workers)
    spec.name = "tp+policy"
    spec.env["TILEPROXY_AUTH_POLICY"] = str(policy)
    spec.headers = {"X-API-Key": BENCH_API_KEY}
    return spec


def metrics_spec(config: Path, workers: int) -> ServerSpec:
    """tileproxy with Prometheus metrics on (``globals.metrics: true``), its workers
    adding up through prometheus_client's multiprocess directory."""
    import shutil

    import yaml

    data = yaml.safe_load(config.read_text())
    data.setdefault("globals", {})["metrics"] = True
    metrics_config = config.with_name("mapproxy-metrics.yaml")
    metrics_config.write_text(yaml.safe_dump(data))
    multiproc = config.parent / "prometheus-multiproc"
    shutil.rmtree(multiproc, ignore_errors=True)
    multiproc.mkdir()
    spec = tileproxy_spec(metrics_config, workers)
    spec.name = "tp+metrics"
    spec.env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    return spec


def access_log_spec(config: Path, workers: int) -> ServerSpec:
    """tileproxy with the access log on: the log.ini of ``tileproxy create -t log-ini``
    (an access.log line per request, next to the config)."""
    sys.path.insert(0, str(REPO_DIR))
    from tileproxy.cli.create_templates import LOG_INI

    log_ini = config.parent / "log.ini"
    log_ini.write_text(LOG_INI)
    spec = tileproxy_spec(config, workers)
    spec.name = "tp+access"
    spec.env["TILEPROXY_LOG_CONFIG"] = str(log_ini)
    return spec


def baseline_spec(tile: Path, workers: int) -> ServerSpec:
    """A WSGI app that answers every request with the bytes of ``tile``: the ceiling
    that gunicorn, the load tool and the kernel leave on this machine."""
    env = {"BENCH_BASELINE_TILE": str(tile), "PYTHONPATH": str(BENCH_DIR)}
    return ServerSpec("baseline", sys.executable, "baseline_wsgi:application", env, str(BENCH_DIR), workers)


class ServerError(RuntimeError):
    pass


def server_command(spec: ServerSpec, port: int) -> list[str]:
    """The command line that serves ``spec`` on 127.0.0.1:``port``."""
    if spec.server == "granian":
        return [spec.python, "-m", "granian", "--interface", "wsgi", "--no-ws", "--workers", str(spec.workers),
                "--blocking-threads", str(spec.blocking_threads),
                *(["--backpressure", str(spec.backpressure)] if spec.backpressure else []),
                "--runtime-mode", spec.runtime_mode, "--host", "127.0.0.1", "--port", str(port),
                "--working-dir", spec.chdir, "--log-level", "warning", spec.app]
    return [spec.python, "-m", "gunicorn", "-w", str(spec.workers), "-k", spec.worker_class,
            "--threads", str(spec.threads), "-b", f"127.0.0.1:{port}", "--chdir", spec.chdir,
            "--timeout", "120", spec.app]


def server_text(spec: ServerSpec) -> str:
    """The server and its worker settings, for reports."""
    if spec.server == "granian":
        return (f"granian: {spec.workers} workers x {spec.blocking_threads} threads, backpressure "
                f"{spec.backpressure or 'default'}, runtime {spec.runtime_mode}, keep-alive")
    if spec.worker_class == "gthread":
        return f"gunicorn: {spec.workers} gthread workers x {spec.threads} threads, keep-alive"
    return f"gunicorn: {spec.workers} {spec.worker_class} workers (a connection per request)"


class ServedProcess:
    """A server process on ``self.port`` (subclasses start it): launched pinned to
    ``cpus``, ready once its master and ``workers`` workers run and ``/`` answers."""

    base: str
    proc: subprocess.Popen | None = None

    def _launch(self, cmd: list[str], log_path: Path, cpus: tuple[int, ...] | None,
                env: dict[str, str] | None = None) -> None:
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)

    def _wait_ready(self, workers: int, timeout: float, failed: Callable[[], str], name: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{name} did not start:\n{failed()}")
            if len(process_tree(self.proc.pid)) > workers:  # master + all workers booted
                try:
                    urllib.request.urlopen(self.base + "/", timeout=5).read()
                    return
                except urllib.error.HTTPError:
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{name} did not answer within {timeout:.0f} s:\n{failed()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self):  # noqa: ANN204
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class GunicornServer(ServedProcess):
    """One gunicorn or granian (``spec.server``) serving ``spec`` on a free port of 127.0.0.1."""

    def __init__(self, spec: ServerSpec, log_path: Path):
        self.spec = spec
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TILEPROXY_CONFIG", "MAPPROXY_CONFIG")}
        env.update(self.spec.env)
        self._launch(self.command(), self.log_path, self.spec.cpus, env)
        self._wait_ready(self.spec.workers, timeout, self.log_tail, self.spec.name)

    def command(self) -> list[str]:  # gunicorn, or granian when the spec says so (server_command)
        return server_command(self.spec, self.port)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class GranianServer(GunicornServer):
    """The same app under granian (WSGI interface, its workers, keep-alive), from the
    spec's Python environment (``pip install granian`` there)."""

    def command(self) -> list[str]:  # tileproxy serve's settings unless the spec says otherwise
        self.spec.server = "granian"
        return server_command(self.spec, self.port)


def granian_missing(python: str) -> str | None:
    """Why granian cannot run from ``python``, or None."""
    proc = subprocess.run([python, "-c", "import granian"], capture_output=True, text=True)
    return None if proc.returncode == 0 else f"granian is not installed for {python} (pip install granian)"


SERVERS = {"gunicorn": GunicornServer, "granian": GranianServer}
AppServer = GunicornServer  # serves spec.server: gunicorn or granian


class NginxServer(ServedProcess):
    """nginx serving the files under ``root`` on a free port of 127.0.0.1, with keep-alive,
    sendfile and no access log, ``workers`` worker processes on ``cpus``: the static ceiling."""

    def __init__(self, root: Path, work: Path, workers: int, cpus: tuple[int, ...] | None):
        self.root, self.work, self.workers, self.cpus = root, work, workers, cpus
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        user = "user root;\n" if os.geteuid() == 0 else ""  # the files belong to whoever seeded them
        tmp = self.work / "tmp"
        return (
            f"# written by bench/: nginx serving tile files\n{user}worker_processes {self.workers};\n"
            f"pid {self.work / 'nginx.pid'};\nerror_log {self.work / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n"
            "  default_type image/png;\n"
            f"  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n"
            f"  fastcgi_temp_path {tmp}/fastcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n    root {self.root};\n  }}\n}}\n")

    def start(self, timeout: float = 20.0) -> None:
        import shutil

        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        (self.work / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self.work / "nginx.conf"
        conf.write_text(self.config())
        self._launch([nginx, "-p", str(self.work), "-c", str(conf), "-g", "daemon off;"], self.work / "nginx.out",
                     self.cpus)
        self._wait_ready(self.workers, timeout, self._output, "nginx")

    def _output(self) -> str:
        errors = self.work / "error.log"
        return (self.work / "nginx.out").read_text(errors="replace") + (
            errors.read_text(errors="replace") if errors.exists() else "")


# -- memory --------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _kb(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_kb(root: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB summed over ``root`` and its descendants. PSS splits pages
    shared between the forked workers, so it does not count them twice."""
    pids = process_tree(root)
    rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
    pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
    return rss, pss


def cpu_seconds(root: int) -> float:
    """User + system CPU time used so far by ``root`` and its descendants."""
    ticks = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Samples the memory of a process tree in a thread; keeps the peaks."""

    def __init__(self, root: int, interval: float = 0.25):
        self.root = root
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            rss, pss = memory_kb(self.root)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- load ------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    latency_us: dict[str, float]
    raw: dict = field(default_factory=dict)
    server_cpu_s: float = 0.0  # CPU time the server used during the run

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def split_cores(shared: bool) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(server cores, load tool cores). Clients of a real server run elsewhere: unless
    ``shared``, wrk gets the last core to itself and the server the others, so that
    the load tool's own CPU does not count against the server it measures. With one
    core, or ``shared``, both run anywhere (None)."""
    cores = sorted(os.sched_getaffinity(0))
    if shared or len(cores) < 2:
        return None, None
    return tuple(cores[:-1]), (cores[-1],)


def cores_text(server: tuple[int, ...] | None, load: tuple[int, ...] | None) -> str:
    if not server:
        return "server and wrk share all cores"
    return f"server on core(s) {','.join(map(str, server))}, wrk on core(s) {','.join(map(str, load or ()))}"


def run_wrk(base_url: str, url_file: Path, seconds: float, connections: int, threads: int,
            server_pid: int | None = None, cpus: tuple[int, ...] | None = None,
            headers: dict[str, str] | None = None) -> LoadResult:
    """wrk against ``base_url``, each request the next path of ``url_file`` (per thread, rotating),
    with ``headers``, on ``cpus`` if given; with ``server_pid``, also the CPU time that process
    tree used meanwhile."""
    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
           *[arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")],
           "-s", str(WRK_LUA), base_url + "/", "--", str(url_file)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30,
                              preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"wrk did not finish within {seconds + 30:g} s") from None
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line[len("BENCH_JSON "):])
    errors = {k: data[k] for k in ("connect", "read", "write", "status", "timeout")}
    latency = {k: data[k] for k in ("mean", "p50", "p90", "p99", "max")}
    cpu = cpu_seconds(server_pid) - cpu0 if server_pid else 0.0
    return LoadResult(data["requests"], data["duration_us"] / 1e6, errors, latency, data, cpu)


# -- caches ------------------------------------------------------------------------------


def cache_fingerprint(directory: Path, skip: tuple[str, ...] = ("tile_locks", "locks")) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under ``directory`` except lock
    directories: equal fingerprints mean nothing was written, whatever the backend."""
    out = {}
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            out[os.path.relpath(path, directory)] = (st.st_size, st.st_mtime_ns)
    return out


def fetch(url: str, timeout: float = 30.0, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.headers.get("Content-Type", ""), ex.read()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE) and b"IEND" in data[-16:]
