#!/usr/bin/env bash
# Polyglot proof: Python stubs generated from proto/ with Debian's protoc and
# grpc_python_plugin (clients/python/generate.sh, into a temporary directory,
# never committed), then test/polyglot/client.py (the raw stubs) and the tests
# of the Python helper in clients/python run against a sidecar on three
# redis-server processes, everything on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib/containers.sh

start=$SECONDS
GEN=$(mktemp -d)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$GEN"
}
trap cleanup EXIT

ci_node24
ci_npm_deps
# Debian's Python gRPC lives in /usr/bin/python3's dist-packages (not in a
# pyenv or venv python that may come first on the PATH).
ci_apt_install redis-server:redis-server redis-cli:redis-tools protoc:protobuf-compiler grpc_python_plugin:protobuf-compiler-grpc \
  :libprotobuf-dev :python3-grpcio :python3-protobuf
PYTHON=/usr/bin/python3
"$PYTHON" -c 'import grpc, google.protobuf; print(f"python grpcio {grpc.__version__}, protobuf {google.protobuf.__version__}")'

log "generate Python stubs from proto/ (protoc $(protoc --version | cut -d' ' -f2), grpc_python_plugin)"
clients/python/generate.sh "$GEN"
find "$GEN" -name '*.py' | sed "s|$GEN/|  |"

log "sidecar on three redis-server processes (127.0.0.1)"
urls=()
for i in 1 2 3; do
  port=$(ci_free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null &
  PIDS+=($!)
  urls+=("redis://127.0.0.1:$port")
done
GRPC_PORT=$(ci_free_port)
LOCK_INSTANCES=$(IFS=,; echo "${urls[*]}") LOCK_LISTEN="127.0.0.1:$GRPC_PORT" LOCK_ADMIN_LISTEN=127.0.0.1:0 \
  LOCK_LOG_LEVEL=warn node src/main.ts >/tmp/polyglot-sidecar.log 2>&1 &
PIDS+=($!)

log "Python client"
if ! "$PYTHON" test/polyglot/client.py --gen "$GEN" --target "127.0.0.1:$GRPC_PORT"; then
  cat /tmp/polyglot-sidecar.log >&2
  die "Python client"
fi

# The helper's live tests pause instances with redis-cli (CLIENT PAUSE) and
# write lock keys directly, so they run last.
log "Python helper: clients/python tests"
if ! REDLOCK_TARGET="127.0.0.1:$GRPC_PORT" REDLOCK_INSTANCES=$(IFS=,; echo "${urls[*]}") \
  PYTHONPATH="clients/python:$GEN" PYTHONDONTWRITEBYTECODE=1 \
  "$PYTHON" -m unittest discover -s clients/python/tests -t clients/python -v; then
  cat /tmp/polyglot-sidecar.log >&2
  die "Python helper tests"
fi
echo "--- .ci/polyglot.sh took $((SECONDS - start)) s"
