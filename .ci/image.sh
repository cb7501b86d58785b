#!/usr/bin/env bash
# The container image (Dockerfile), built and run with podman.
#
# No image registry is reachable, so the public node:24 base is replaced by a
# local stand-in (NODE_IMAGE=localhost/node-standin:24: the Node 24 binary of
# the `node` npm package, its libraries, npm, sh) and Dragonfly by
# redis-server (localhost/dragonfly-standin:ci). The Dockerfile itself is
# built as is. Then: the image runs as a non-root user with production
# dependencies only; three instances and the sidecar run with a read-only
# root filesystem, all capabilities dropped and ports published on 127.0.0.1
# only; the admin probes answer; a client acquires and releases a lock
# through it; SIGTERM stops it with exit code 0.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib/containers.sh

start=$SECONDS
NET=redlock-ci-image
CONTAINERS=(redlock-ci-image-sidecar redlock-ci-image-df1 redlock-ci-image-df2 redlock-ci-image-df3)
cleanup() {
  podman rm -f -t 0 "${CONTAINERS[@]}" >/dev/null 2>&1 || true
  podman network rm -f "$NET" >/dev/null 2>&1 || true
}
trap cleanup EXIT

ci_node24
ci_npm_deps
ci_podman_setup
ci_apt_install curl:curl
cleanup

log "stand-in base images"
ci_build_dragonfly_standin
ci_build_node_standin

log "podman build (Dockerfile, NODE_IMAGE=$CI_NODE_STANDIN)"
t=$SECONDS
ci_build_sidecar_image "$CI_SIDECAR_IMAGE" "$CI_NODE_STANDIN"
echo "--- image build took $((SECONDS - t)) s"

log "image contents"
user=$(podman image inspect --format '{{.Config.User}}' "$CI_SIDECAR_IMAGE")
[ "$user" = "1000:1000" ] || die "image user is '$user', expected 1000:1000"
# Every package the lockfile marks dev-only must be absent, every production
# dependency present, and the process must not run as root.
podman run --rm -v "$PWD/package-lock.json:/tmp/package-lock.json:ro" --entrypoint node "$CI_SIDECAR_IMAGE" -e '
  const fs = require("node:fs");
  const lock = require("/tmp/package-lock.json").packages;
  const prod = Object.keys(require("/app/package.json").dependencies);
  const missing = prod.filter((d) => !fs.existsSync(`/app/node_modules/${d}`));
  const devOnly = Object.keys(lock).filter((p) => p && lock[p].dev);
  const present = devOnly.filter((p) => fs.existsSync(`/app/${p}`));
  if (missing.length || present.length || process.getuid() === 0) {
    console.error({ missing, present, uid: process.getuid() }); process.exit(1);
  }
  console.log(`uid ${process.getuid()}, ${prod.length} production dependencies, none of ${devOnly.length} dev-only packages, node ${process.version}`);'

log "run: 3 instances + the sidecar (read-only root fs, no capabilities, ports on 127.0.0.1)"
PASSWORD="ci-$RANDOM$RANDOM"
podman network create "$NET" >/dev/null
for i in 1 2 3; do
  podman run -d --name "redlock-ci-image-df$i" --network "$NET" --network-alias "dragonfly-$i" \
    "$CI_DRAGONFLY_STANDIN" dragonfly --port 6379 --requirepass "$PASSWORD" >/dev/null
done
GRPC_PORT=$(ci_free_port)
ADMIN_PORT=$(ci_free_port)
podman run -d --name redlock-ci-image-sidecar --network "$NET" \
  --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  -p "127.0.0.1:$GRPC_PORT:50051" -p "127.0.0.1:$ADMIN_PORT:9090" \
  -e "LOCK_INSTANCES=redis://:$PASSWORD@dragonfly-1:6379,redis://:$PASSWORD@dragonfly-2:6379,redis://:$PASSWORD@dragonfly-3:6379" \
  -e LOCK_SHUTDOWN_GRACE=5s \
  "$CI_SIDECAR_IMAGE" >/dev/null
if ! ci_wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" 30; then
  podman logs redlock-ci-image-sidecar >&2
  die "the sidecar did not become ready (/readyz)"
fi
curl -fsS "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null || die "/healthz"
echo "/healthz and /readyz answer on 127.0.0.1:$ADMIN_PORT"

log "acquire and release through the image (127.0.0.1:$GRPC_PORT)"
node test/deploy/smoke-client.ts "127.0.0.1:$GRPC_PORT" || { podman logs redlock-ci-image-sidecar >&2; die "smoke client"; }
if podman logs redlock-ci-image-sidecar 2>&1 | grep -q "$PASSWORD"; then die "the instance password appears in the sidecar's logs"; fi

log "SIGTERM: graceful shutdown, exit 0"
podman stop -t 15 redlock-ci-image-sidecar >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' redlock-ci-image-sidecar)
[ "$code" = "0" ] || { podman logs redlock-ci-image-sidecar >&2; die "sidecar exited $code after SIGTERM"; }
echo "exited 0"
echo "--- .ci/image.sh took $((SECONDS - start)) s"
