"""Python logging configured from a file, as MapProxy's deployments do with ``log.ini``:
an ini file for ``logging.config.fileConfig`` (``%(here)s`` in it is the file's own
directory), or a ``.json`` / ``.yaml`` file for ``dictConfig``. Used by ``tileproxy serve
--log-config``, ``tileproxy-seed --log-config`` and ``TILEPROXY_LOG_CONFIG`` of
tileproxy.deploy."""

from __future__ import annotations

import logging.config
import os


def apply_log_config(path: str) -> None:
    """Configure logging from ``path``; ValueError naming the file when it cannot be used.
    Loggers that exist already keep working (``disable_existing_loggers`` off)."""
    try:
        if path.endswith((".json", ".yaml", ".yml")):
            import yaml

            with open(path, encoding="utf-8") as f:
                conf = yaml.safe_load(f)  # JSON is YAML too
            if not isinstance(conf, dict):
                raise ValueError("not a logging dictConfig mapping")
            conf.setdefault("disable_existing_loggers", False)
            logging.config.dictConfig(conf)
        else:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such file: {path}")
            here = os.path.dirname(os.path.abspath(path))
            logging.config.fileConfig(path, {"here": here}, disable_existing_loggers=False)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError) as ex:
        raise ValueError(f"logging configuration {path}: {ex}") from None
