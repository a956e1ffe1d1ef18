#!/usr/bin/env bash
# make demo: the local stack, a real Covalent dispatcher, and an example workflow on them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export EVENTBATCH_LOCAL_HOME="$root/.demo/local"
export COVALENT_CONFIG_DIR="$root/.demo/covalent/config"
export COVALENT_DATA_DIR="$root/.demo/covalent/data"
export COVALENT_CACHE_DIR="$root/.demo/covalent/cache"
export COVALENT_DATABASE="$root/.demo/covalent/dispatcher.sqlite"
export COVALENT_LOGDIR="$root/.demo/covalent/log"
export COVALENT_DISABLE_DASK=1  # the dispatcher below runs without a Dask cluster
mkdir -p "$EVENTBATCH_LOCAL_HOME" "$COVALENT_CONFIG_DIR" "$COVALENT_DATA_DIR" "$COVALENT_CACHE_DIR" \
  "$COVALENT_LOGDIR"
port="${DEMO_COVALENT_PORT:-48118}"
# The progress table is wide: outside a terminal (a log, CI) rich would squeeze it into 80 columns.
[ -t 1 ] || export COLUMNS="${COLUMNS:-160}"

cleanup() {
  "$root/.venv/bin/covalent" stop >/dev/null 2>&1 || true
  "$root/.venv/bin/eventbatch" local down
}
trap cleanup EXIT

"$root/.venv/bin/eventbatch" local up
"$root/.venv/bin/covalent" start --no-cluster -p "$port" >/dev/null
echo "Covalent dispatcher on http://localhost:$port"
"$root/.venv/bin/python" examples/demo.py
