"""Record the keys MapProxy 7 writes to S3, Azure Blob and Redis caches, for
tests/test_store_remote.py (not run in CI; MapProxy never runs in the tests).

    python3 bench/record_mapproxy_keys.py

Starts SeaweedFS, Azurite and redis-server (tests/support/servers.py), has
bench/.venv-mapproxy's mapproxy-seed fill levels 0-3 of an area of each case's cache from a
debug source, lists what landed, and writes tests/data/mapproxy_store_keys.json:
the tiles seeded (in a lopsided area) and per case the cache block (with
placeholders for the servers) and the sorted keys. Then it loads the same configuration in tileproxy and checks that
every tile MapProxy wrote is served from the store (printed, not recorded).
Needs boto3, azure-storage-blob and redis in both pythons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import servers  # noqa: E402

OUT = ROOT / "tests" / "data" / "mapproxy_store_keys.json"
SEED = ROOT / "bench" / ".venv-mapproxy" / "bin" / "mapproxy-seed"
LEVELS = 3
# a lopsided area, so that a layout with x and y swapped writes other keys
AREA = {"bbox": [90, 0, 180, 80], "srs": "EPSG:4326"}

# case -> cache block; {bucket}/{endpoint}/{container}/{connection}/{host}/{port} filled in
CASES: dict[str, dict] = {
    "s3_default": {"type": "s3", "bucket_name": "{bucket}", "endpoint_url": "{endpoint}"},
    "s3_directory_tc": {"type": "s3", "bucket_name": "{bucket}", "endpoint_url": "{endpoint}",
                        "directory": "/tiles/osm", "directory_layout": "tc"},
    "s3_include_grid_name_mp": {"type": "s3", "bucket_name": "{bucket}", "endpoint_url": "{endpoint}",
                                "directory": "base", "include_grid_name": True, "directory_layout": "mp"},
    "s3_reverse_tms": {"type": "s3", "bucket_name": "{bucket}", "endpoint_url": "{endpoint}",
                       "directory": "rt", "directory_layout": "reverse_tms"},
    "s3_quadkey": {"type": "s3", "bucket_name": "{bucket}", "endpoint_url": "{endpoint}",
                   "directory": "qk", "directory_layout": "quadkey"},
    "s3_arcgis": {"type": "s3", "bucket_name": "{bucket}", "endpoint_url": "{endpoint}",
                  "directory": "ag", "directory_layout": "arcgis"},
    "azureblob_default": {"type": "azureblob", "container_name": "{container}", "connection_string": "{connection}"},
    "azureblob_directory_tc": {"type": "azureblob", "container_name": "{container}",
                               "connection_string": "{connection}", "directory": "az/tiles", "directory_layout": "tc"},
    "redis_default": {"type": "redis", "host": "{host}", "port": "{port}"},
    "redis_prefix": {"type": "redis", "host": "{host}", "port": "{port}", "prefix": "mytiles", "default_ttl": 0},
}


def fill(value: object, names: dict) -> object:
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return names[value[1:-1]]
    return value


def listing(kind: str, conf: dict, server: object) -> list[str]:
    if kind == "s3":
        import boto3

        client = boto3.client("s3", endpoint_url=conf["endpoint_url"])
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=conf["bucket_name"])
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    if kind == "azureblob":
        from azure.storage.blob import ContainerClient

        client = ContainerClient.from_connection_string(conf["connection_string"], conf["container_name"])
        return sorted(client.list_blob_names())
    import redis

    client = redis.Redis(host=conf["host"], port=conf["port"])
    return sorted(k.decode() for k in client.keys("*"))


def main() -> None:
    recorded = {}
    with servers.s3_server() as s3, servers.azurite_server() as az, servers.redis_server() as rd, \
            tempfile.TemporaryDirectory() as tmp:
        os.environ.update(s3.credentials_env())
        for name, template in CASES.items():
            kind = template["type"]
            if kind == "redis":
                rd.command("FLUSHALL")
            names = {"bucket": s3.new_bucket() if kind == "s3" else "",
                     "container": az.new_container() if kind == "azureblob" else "",
                     "endpoint": s3.endpoint_url, "connection": az.connection_string, "host": rd.host, "port": rd.port}
            conf = fill(template, names)
            proxy = {"services": {"tms": {}},
                     "layers": [{"name": "c", "title": "c", "sources": ["c_cache"]}],
                     "caches": {"c_cache": {"grids": ["GLOBAL_WEBMERCATOR"], "sources": ["dbg"], "cache": conf,
                                            "meta_size": [2, 2]}},
                     "sources": {"dbg": {"type": "debug"}}}
            seed = {"seeds": {"s": {"caches": ["c_cache"], "levels": {"to": LEVELS}, "coverages": ["area"]}},
                    "coverages": {"area": AREA}}
            Path(tmp, "mapproxy.yaml").write_text(yaml.safe_dump(proxy))
            Path(tmp, "seed.yaml").write_text(yaml.safe_dump(seed))
            run = subprocess.run([str(SEED), "-f", "mapproxy.yaml", "-s", "seed.yaml", "-c", "1"], cwd=tmp,
                                 capture_output=True, text=True)
            if run.returncode != 0:
                raise SystemExit(f"{name}: mapproxy-seed failed:\n{run.stderr[-3000:]}")
            keys = listing(kind, conf, None)
            recorded[name] = {"cache": template, "keys": keys}
            if name == "redis_default":  # MapProxy's redis keys spell out z, x and y
                coords = sorted([int(p) for p in k.rsplit("-", 3)[1:]] for k in keys)
            print(f"{name}: {len(keys)} keys, e.g. {keys[:2]}")
            check_tileproxy_serves(Path(tmp, "mapproxy.yaml"), len(keys))
    tiles = [[x, y, z] for z, x, y in coords]
    OUT.write_text(json.dumps({"cache_name": "c_cache", "grid": "GLOBAL_WEBMERCATOR", "area": AREA, "tiles": tiles,
                               "cases": recorded}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


def check_tileproxy_serves(config: Path, expected: int) -> None:
    from tileproxy.config.build import load_proxy_config
    from tileproxy.stores.base import Tile

    manager = load_proxy_config(str(config)).caches["c_cache"].managers["GLOBAL_WEBMERCATOR"]
    coords = [(x, y, z) for z in range(LEVELS + 1) for x in range(2 ** z) for y in range(2 ** z)]
    found = manager.store.load_many([Tile(c) for c in coords])
    listed = sorted(c for z in range(LEVELS + 1) for c in manager.store.iter_coords(z))
    status = "ok" if len(found) == expected and listed == sorted(t.coord for t in found) else "MISMATCH"
    print(f"  tileproxy loads {len(found)} and lists {listed} of MapProxy's {expected} tiles: {status}")


if __name__ == "__main__":
    main()
