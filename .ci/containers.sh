#!/usr/bin/env bash
# The integration suites that take their instances from
# test/support/instance-servers.ts, run once more in container mode:
# testcontainers against podman's Docker API, each instance a container of
# LOCK_TEST_IMAGE (here the redis-server stand-in for Dragonfly, since no
# registry is reachable), published on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib/containers.sh

start=$SECONDS
cleanup() {
  podman rm -f -t 0 $(podman ps -aq --filter label=redlock-sidecar.test=instance 2>/dev/null) >/dev/null 2>&1 || true
  ci_podman_service_stop
}
trap cleanup EXIT

ci_node24
ci_npm_deps
ci_podman_setup
ci_podman_service_start
ci_build_dragonfly_standin

export DOCKER_HOST="$CI_PODMAN_SOCK"
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
export LOCK_TEST_IMAGE="$CI_DRAGONFLY_STANDIN"
# Forced, so that a broken engine fails here instead of falling back to processes.
export LOCK_TEST_SERVERS=container

log "integration tests in container mode (image $LOCK_TEST_IMAGE)"
# One file at a time: container start-up is CPU-heavy on two cores.
npx vitest run --no-file-parallelism test/integration/instance-servers.test.ts test/integration/lock-service.test.ts
left=$(podman ps -aq --filter label=redlock-sidecar.test=instance | wc -l)
[ "$left" -eq 0 ] || die "$left test containers left behind"
echo "--- .ci/containers.sh took $((SECONDS - start)) s"
