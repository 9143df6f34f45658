"""MapServer mapfiles rendered by running the local ``mapserv`` binary as a CGI
program: WMS GetMap parameters in QUERY_STRING, the image on stdout."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile

from ..image.codec import ImageDataError, check_image_bytes
from ..image.formats import ImageFormat
from ..srs import SRS
from .base import SourceError, SourceTimeout
from .limits import NO_LIMITS, SourceLimits
from .on_error import ErrorPolicy
from .wms import WMSSource

log = logging.getLogger("tileproxy.source.mapserver")

_empty_config: str | None = None
CGI_BIN_DIRS = ("/usr/lib/cgi-bin",)  # where Debian's cgi-mapserver puts mapserv


def find_mapserv(binary: str | None = None) -> str:
    """The mapserv executable: ``binary`` when given, else ``mapserv`` on PATH
    (or Debian's /usr/lib/cgi-bin/mapserv). Raises FileNotFoundError."""
    if binary:
        if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
            raise FileNotFoundError(f"mapserv binary {binary} does not exist or is not executable")
        return binary
    found = shutil.which("mapserv") or shutil.which("mapserv", path=os.pathsep.join(CGI_BIN_DIRS))
    if not found:
        raise FileNotFoundError("no mapserv binary on PATH; install MapServer or set mapserver.binary")
    return found


def _config_file() -> str:
    """MapServer 8 refuses to start without a config file; unless the environment names
    one, an empty one is enough because the mapfile comes through MS_MAPFILE."""
    global _empty_config
    env = os.environ.get("MAPSERVER_CONFIG_FILE")
    if env:
        return env
    if _empty_config is None or not os.path.exists(_empty_config):
        fd, path = tempfile.mkstemp(prefix="tileproxy-mapserver-", suffix=".conf")
        with os.fdopen(fd, "w") as f:
            f.write("CONFIG\nEND\n")
        _empty_config = path
    return _empty_config


class MapServerSource(WMSSource):
    kind = "mapserver"

    def __init__(
        self,
        name: str,
        params: dict[str, str],
        binary: str,
        mapfile: str,
        working_dir: str | None = None,
        timeout: float = 60.0,
        transparent: bool = False,
        version: str = "1.1.1",
        supported_srs: list[SRS] | None = None,
        supported_formats: list[ImageFormat] | None = None,
        resampling: str = "bicubic",
        options=None,
        limits: SourceLimits = NO_LIMITS,
        on_error: ErrorPolicy | None = None,
    ):
        super().__init__(
            name,
            "",
            params,
            client=None,
            version=version,
            transparent=transparent,
            supported_srs=supported_srs,
            supported_formats=supported_formats,
            resampling=resampling,
            options=options,
            limits=limits,
            on_error=on_error,
        )
        self.binary = binary
        self.mapfile = mapfile
        self.working_dir = working_dir
        self.timeout = timeout

    def _fetch(self, bbox, size, srs: SRS, fmt: ImageFormat, forward: dict[str, str] | None = None) -> bytes:
        query = self.map_url(bbox, size, srs, fmt, forward).partition("?")[2]
        ctype, body = self.run(query)
        try:
            check_image_bytes(body)
        except ImageDataError:
            message = _message(body)
            log.warning("mapserver source '%s' (%s) answered %s: %s", self.name, self.mapfile, ctype or "nothing", message)
            raise SourceError(f"mapserver source '{self.name}' failed: {message}") from None
        return body

    def request(self, url: str) -> tuple[bytes, str]:
        """Feature info and legends: the query of ``url`` answered by mapserv."""
        ctype, body = self.run(url.partition("?")[2])
        return body, ctype

    def run(self, query: str) -> tuple[str, bytes]:
        """Run mapserv with ``query``; returns the Content-Type and the body."""
        env = {
            "QUERY_STRING": query,
            "REQUEST_METHOD": "GET",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SCRIPT_NAME": "/mapserv",
            "MS_MAPFILE": self.mapfile,
            "MAPSERVER_CONFIG_FILE": _config_file(),
        }
        for key in ("PATH", "PROJ_DATA", "PROJ_LIB", "GDAL_DATA", "LD_LIBRARY_PATH", "MS_ERRORFILE", "MS_DEBUGLEVEL"):
            if key in os.environ:
                env[key] = os.environ[key]
        try:
            proc = subprocess.run(
                [self.binary], env=env, cwd=self.working_dir, capture_output=True, timeout=self.timeout, check=False
            )
        except FileNotFoundError:
            log.error("mapserver source '%s': binary %s is gone", self.name, self.binary)
            raise SourceError(f"mapserver source '{self.name}': mapserv binary not found") from None
        except subprocess.TimeoutExpired:
            raise SourceTimeout(f"mapserver source '{self.name}': mapserv took longer than {self.timeout:g}s") from None
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        if proc.returncode != 0:
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
            log.error("mapserver source '%s': mapserv ended with %s: %s", self.name, how, stderr or "(no stderr)")
            raise SourceError(f"mapserver source '{self.name}': mapserv ended with {how}")
        if stderr:
            log.info("mapserver source '%s' stderr: %s", self.name, stderr)
        return _split_cgi(proc.stdout)


def _split_cgi(out: bytes) -> tuple[str, bytes]:
    """CGI output: headers, an empty line, the body."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        head, found, body = out.partition(sep)
        if found and b":" in head.split(b"\n", 1)[0]:
            ctype = ""
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-type":
                    ctype = value.strip()
            return ctype, body
    return "", out


def _message(body: bytes) -> str:
    """A one-line message from a MapServer error page or service exception."""
    text = body.decode("utf-8", "replace")
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    match = re.search(r"<ServiceException[^>]*>(.*?)</ServiceException>", text, flags=re.S)
    if match:
        text = match.group(1)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.replace("MapServer Message", " ").split())
    return text[:500] or "no image"

