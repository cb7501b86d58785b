#!/usr/bin/env bash
# Generates the Python stubs of lock.v1 that redlock_sidecar imports, and the
# google.rpc Status, ErrorInfo and BadRequest classes it decodes the
# grpc-status-details-bin trailer with (no grpcio-status needed), from
# proto/ with protoc and grpc_python_plugin (Debian: protobuf-compiler,
# protobuf-compiler-grpc, libprotobuf-dev). They are build output, never
# committed: the default directory, redlock_sidecar/_gen/, is git-ignored.
#   clients/python/generate.sh [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto="$here/../../proto"
out="${1:-$here/redlock_sidecar/_gen}"
plugin="$(command -v grpc_python_plugin)" || {
  echo "generate.sh: grpc_python_plugin not found (Debian: apt-get install protobuf-compiler-grpc)" >&2
  exit 1
}
mkdir -p "$out"
# /usr/include holds google/protobuf/*.proto (Debian: libprotobuf-dev).
protoc -I "$proto" -I /usr/include \
  --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" \
  "$proto/lock/v1/lock.proto"
# google.rpc has messages only: no services, no grpc_python_out.
protoc -I "$proto" -I /usr/include \
  --python_out="$out" \
  "$proto/google/rpc/status.proto" "$proto/google/rpc/error_details.proto"
echo "generate.sh: lock.v1 stubs and google.rpc error details written to $out"
