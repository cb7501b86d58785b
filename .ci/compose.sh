#!/usr/bin/env bash
# docker-compose.yml, run by podman-compose on local stand-in images:
# DRAGONFLY_IMAGE=localhost/dragonfly-standin:ci (redis-server as
# `dragonfly`), the sidecar image built from the Dockerfile on the Node 24
# stand-in (SIDECAR_IMAGE). Up, ready, a lock acquired and released from the
# host on 127.0.0.1, again with one of the three instances stopped (a
# majority still answers), a graceful SIGTERM, down.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib/containers.sh

start=$SECONDS
PROJECT=redlock-ci-compose
COMPOSE_FILE_CI=docker-compose.yml
compose() { podman-compose -p "$PROJECT" -f "$COMPOSE_FILE_CI" "$@"; }
cleanup() {
  if command -v podman-compose >/dev/null 2>&1; then compose down -t 2 >/dev/null 2>&1 || true; fi
  podman rm -f -t 0 $(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null) >/dev/null 2>&1 || true
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
  [ "$COMPOSE_FILE_CI" = docker-compose.yml ] || rm -f "$COMPOSE_FILE_CI"
}
trap cleanup EXIT

ci_node24
ci_npm_deps
ci_podman_setup
ci_apt_install curl:curl podman-compose:podman-compose
cleanup

log "images: stand-ins and the sidecar"
ci_build_dragonfly_standin
ci_build_node_standin
t=$SECONDS
ci_build_sidecar_image "$CI_SIDECAR_IMAGE" "$CI_NODE_STANDIN" >/dev/null
echo "sidecar image $CI_SIDECAR_IMAGE up to date ($((SECONDS - t)) s)"

# This machine forbids setting RLIMIT_MEMLOCK at all (runc: "error setting
# rlimit type 7: operation not permitted"), which the compose file asks for
# Dragonfly. Only where that is so, CI runs a copy without the memlock
# ulimit; the rest of the file is used unchanged.
if ! podman run --rm --ulimit memlock=-1 "$CI_DRAGONFLY_STANDIN" true >/dev/null 2>&1; then
  COMPOSE_FILE_CI=$(mktemp "$PWD/.compose-ci-XXXXXX.yml")
  node --input-type=module -e '
    import { readFileSync, writeFileSync } from "node:fs";
    import { parse, stringify } from "yaml";
    const compose = parse(readFileSync("docker-compose.yml", "utf8"), { merge: true });
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.ulimits?.memlock !== undefined) { delete service.ulimits.memlock; console.log(`${name}: memlock ulimit left out (not settable here)`); }
      if (service.ulimits && Object.keys(service.ulimits).length === 0) delete service.ulimits;
    }
    for (const key of Object.keys(compose)) if (key.startsWith("x-")) delete compose[key];
    writeFileSync(process.argv[1], stringify(compose));' "$COMPOSE_FILE_CI"
fi

export DRAGONFLY_IMAGE="$CI_DRAGONFLY_STANDIN"
export NODE_IMAGE="$CI_NODE_STANDIN"
export SIDECAR_IMAGE="$CI_SIDECAR_IMAGE"
export LOCK_INSTANCE_PASSWORD="ci-$RANDOM$RANDOM"
LOCK_GRPC_PORT=$(ci_free_port)
LOCK_ADMIN_PORT=$(ci_free_port)
export LOCK_GRPC_PORT LOCK_ADMIN_PORT

log "podman-compose up ($COMPOSE_FILE_CI)"
compose up -d >/tmp/compose-up.log 2>&1 || { cat /tmp/compose-up.log >&2; die "podman-compose up"; }
# podman-compose 1.0 exits 0 even when a container fails to start: check.
running=$(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | sort | tr '\n' ' ')
echo "running: $running"
[ "$(wc -w <<<"$running")" -eq 4 ] || { cat /tmp/compose-up.log >&2; die "expected 4 running containers"; }
SIDECAR="${PROJECT}_sidecar_1"
if ! ci_wait_http "http://127.0.0.1:$LOCK_ADMIN_PORT/readyz" 30; then
  podman logs "$SIDECAR" >&2 || true
  die "the composed sidecar did not become ready"
fi

log "acquire and release through the composed sidecar (127.0.0.1:$LOCK_GRPC_PORT)"
node test/deploy/smoke-client.ts "127.0.0.1:$LOCK_GRPC_PORT" || { podman logs "$SIDECAR" >&2; die "smoke client"; }

log "one instance down: a majority (2 of 3) still grants"
podman stop -t 2 "${PROJECT}_dragonfly-1_1" >/dev/null
node test/deploy/smoke-client.ts "127.0.0.1:$LOCK_GRPC_PORT" || { podman logs "$SIDECAR" >&2; die "smoke client with one instance down"; }

log "stop: SIGTERM, exit 0; down"
podman stop -t 15 "$SIDECAR" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$SIDECAR")
[ "$code" = "0" ] || { podman logs "$SIDECAR" >&2; die "sidecar exited $code after SIGTERM"; }
compose down -t 5 >/dev/null 2>&1
left=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" | wc -l)
[ "$left" -eq 0 ] || die "$left containers left after down"
echo "down: no containers left"
echo "--- .ci/compose.sh took $((SECONDS - start)) s"
