# Shared helpers of the .ci/*.sh deployment checks (sourced, not run).
#
# The CI machine is Debian, root, with the npm registry and Debian's apt
# reachable and no image registry: container images are therefore built
# locally from files that are already on the machine (see ci_build_*_standin).
# Podman runs rootful with runc and cgroupfs; `podman system service` serves
# the Docker API on /run/podman/podman.sock for compose and testcontainers.

CI_PODMAN_SOCK_PATH=/run/podman/podman.sock
CI_PODMAN_SOCK="unix://$CI_PODMAN_SOCK_PATH"
CI_DRAGONFLY_STANDIN=localhost/dragonfly-standin:ci
CI_NODE_STANDIN=localhost/node-standin:24
CI_SIDECAR_IMAGE=localhost/redlock-sidecar:ci

log() { printf '\n=== [%3d s] %s\n' "$SECONDS" "$*"; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages that are missing: by the command they provide
# (cmd:package), or by the package itself (:package).
#   ci_apt_install cmd:package [:package ...]
ci_apt_install() {
  local missing=() pair
  for pair in "$@"; do
    if [ -n "${pair%%:*}" ]; then
      command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    else
      dpkg -s "${pair#:}" >/dev/null 2>&1 || missing+=("${pair#:}")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One `apt-get update` per hour is enough for all the scripts of a CI run.
  if [ -z "$(find /tmp/.ci-apt-updated -mmin -60 2>/dev/null)" ]; then
    apt-get update -qq
    touch /tmp/.ci-apt-updated
  fi
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Node 24 on the PATH (the same rule as .ci/run): the node devDependency
# installed by `npm ci`, else $NODE24_PREFIX, else installed there from npm.
ci_node24() {
  local major
  major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
  if [ "$(major node)" -ge 24 ]; then return 0; fi
  local prefix="${NODE24_PREFIX:-/opt/node24}"
  if [ "$(major "$prefix/bin/node")" -lt 24 ]; then
    log "installing Node 24 from the npm registry into $prefix"
    npm i -g --prefix "$prefix" node@24 >/dev/null
  fi
  export PATH="$prefix/bin:$PATH"
}

# node_modules present (CI runs these scripts after `npm ci`; alone, install).
ci_npm_deps() {
  if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund
  fi
}

# Podman as root with runc and cgroupfs (what works on these machines).
ci_podman_setup() {
  ci_apt_install podman:podman runc:runc
  if [ ! -f /etc/containers/containers.conf ]; then
    log "writing /etc/containers/containers.conf (runc, cgroupfs)"
    mkdir -p /etc/containers
    cat > /etc/containers/containers.conf <<'EOF'
[containers]
default_ulimits = ["nofile=1000:1000", "nproc=1000:1000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
  fi
  podman --version
}

ci_podman_socket_answers() {
  [ -S "$CI_PODMAN_SOCK_PATH" ] &&
    curl -fsS --max-time 2 --unix-socket "$CI_PODMAN_SOCK_PATH" http://d/_ping >/dev/null 2>&1
}

# Starts `podman system service` unless one already answers; the one started
# here is stopped by ci_podman_service_stop (call it from an EXIT trap).
CI_PODMAN_SERVICE_PID=""
ci_podman_service_start() {
  ci_apt_install curl:curl
  if ci_podman_socket_answers; then
    echo "podman API already answering on $CI_PODMAN_SOCK"
    return 0
  fi
  mkdir -p "$(dirname "$CI_PODMAN_SOCK_PATH")"
  rm -f "$CI_PODMAN_SOCK_PATH"
  podman system service --time=0 "$CI_PODMAN_SOCK" >/tmp/podman-service.log 2>&1 &
  CI_PODMAN_SERVICE_PID=$!
  local i
  for i in $(seq 1 100); do
    ci_podman_socket_answers && { echo "podman API on $CI_PODMAN_SOCK (pid $CI_PODMAN_SERVICE_PID)"; return 0; }
    sleep 0.1
  done
  cat /tmp/podman-service.log >&2
  die "podman system service did not answer on $CI_PODMAN_SOCK"
}

ci_podman_service_stop() {
  if [ -n "$CI_PODMAN_SERVICE_PID" ]; then
    kill "$CI_PODMAN_SERVICE_PID" 2>/dev/null || true
    wait "$CI_PODMAN_SERVICE_PID" 2>/dev/null || true
    CI_PODMAN_SERVICE_PID=""
  fi
}

# Copies the shared libraries and the loader that `ldd` lists for a binary
# into the rootfs, at the same paths.
ci_rootfs_libs() {
  local root="$1" lib
  for lib in $(ldd "$2" 2>/dev/null | grep -oE '/[^ ]+' | grep -E '\.so' || true); do
    mkdir -p "$root$(dirname "$lib")"
    [ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
  done
}

# Copies each file into the rootfs at the same path, with its libraries.
ci_rootfs_add() {
  local root="$1" file
  shift
  for file in "$@"; do
    mkdir -p "$root$(dirname "$file")"
    cp -L "$file" "$root$file"
    ci_rootfs_libs "$root" "$file"
  done
}

# Minimal /etc and /tmp of a rootfs (root and the unprivileged user 1000).
ci_rootfs_base() {
  local root="$1"
  mkdir -p "$root/etc" "$root/tmp" "$root/root" "$root/home/node"
  chmod 1777 "$root/tmp"
  chown 1000:1000 "$root/home/node"
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' > "$root/etc/group"
}

# Bumped when a stand-in's recipe changes, so that an older one left on the
# machine is rebuilt.
CI_STANDIN_VERSION=2
ci_standin_current() {
  [ "$(podman image inspect --format '{{index .Config.Labels "ci.standin.version"}}' "$1" 2>/dev/null)" = "$CI_STANDIN_VERSION" ]
}

# A stand-in for the Dragonfly image: Dragonfly is neither packaged nor
# pullable here, so redis-server (Debian) is installed behind a `dragonfly`
# command that accepts the command lines the compose file and the tests use
# (`dragonfly --port 6379 [--requirepass PW]`) and, like Dragonfly, has no
# protected mode and no persistence of its own.
ci_build_dragonfly_standin() {
  local tag="${1:-$CI_DRAGONFLY_STANDIN}"
  if ci_standin_current "$tag"; then echo "$tag exists"; return 0; fi
  ci_apt_install redis-server:redis-server
  local root redis
  redis=$(command -v redis-server)
  root=$(mktemp -d)
  ci_rootfs_base "$root"
  ci_rootfs_add "$root" "$redis" /bin/dash
  ln -sf /bin/dash "$root/bin/sh"
  mkdir -p "$root/usr/local/bin" "$root/data" "$root/etc/redis"
  printf 'protected-mode no\nsave ""\nappendonly no\ndir /data\n' > "$root/etc/redis/dragonfly-standin.conf"
  printf '#!/bin/sh\n# Stand-in for Dragonfly (CI): redis-server with Dragonfly-like defaults.\nexec %s /etc/redis/dragonfly-standin.conf "$@"\n' "$redis" > "$root/usr/local/bin/dragonfly"
  chmod 755 "$root/usr/local/bin/dragonfly"
  tar -C "$root" -cf "$root.tar" .
  podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'WORKDIR /data' \
    --change 'EXPOSE 6379' \
    --change "LABEL ci.standin.version=$CI_STANDIN_VERSION" \
    --change 'CMD ["dragonfly", "--port", "6379"]' \
    --quiet "$root.tar" "$tag" >/dev/null
  rm -rf "$root" "$root.tar"
  echo "built $tag"
}

# A stand-in for the public node:24 image: the Node 24 binary (the `node`
# npm package's, which CI already has), its libraries, npm (the copy that
# runs this script), and /bin/sh + /usr/bin/env for Dockerfile RUN lines.
ci_build_node_standin() {
  local tag="${1:-$CI_NODE_STANDIN}"
  if ci_standin_current "$tag"; then echo "$tag exists"; return 0; fi
  local node_bin npm_dir root pack=""
  node_bin=node_modules/node/bin/node
  [ -x "$node_bin" ] || node_bin=$(node -p 'process.execPath')
  [ "$("$node_bin" -p 'process.versions.node.split(".")[0]')" -ge 24 ] || die "need Node 24, found $node_bin"
  npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  if [ ! -f "$npm_dir/bin/npm-cli.js" ] || [ ! -d "$npm_dir/node_modules" ]; then
    # Not a self-contained npm (e.g. Debian's, whose dependencies are
    # separate packages): take the same version's tarball from the registry,
    # which bundles its dependencies.
    pack=$(mktemp -d)
    (cd "$pack" && npm pack --silent "npm@$(npm --version)" >/dev/null && mkdir npm && tar -xzf npm-*.tgz -C npm --strip-components=1)
    npm_dir="$pack/npm"
  fi
  root=$(mktemp -d)
  ci_rootfs_base "$root"
  ci_rootfs_add "$root" /bin/dash /usr/bin/env
  ln -sf /bin/dash "$root/bin/sh"
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules"
  cp -L "$node_bin" "$root/usr/local/bin/node"
  ci_rootfs_libs "$root" "$node_bin"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  tar -C "$root" -cf "$root.tar" .
  podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV HOME=/root' \
    --change "LABEL ci.standin.version=$CI_STANDIN_VERSION" \
    --change 'CMD ["node"]' \
    --quiet "$root.tar" "$tag" >/dev/null
  echo "built $tag ($("$node_bin" --version), npm $(node "$npm_dir/bin/npm-cli.js" --version))"
  rm -rf "$root" "$root.tar" ${pack:+"$pack"}
}

# Runs a command and prints how long it took (seconds) to the step log.
ci_timed() {
  local start=$SECONDS
  "$@"
  echo "--- $1 took $((SECONDS - start)) s"
}

# A free TCP port on 127.0.0.1.
ci_free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Polls a URL until it answers 2xx or the timeout (seconds) passes.
ci_wait_http() {
  local url="$1" timeout="${2:-30}" i
  for i in $(seq 1 $((timeout * 4))); do
    curl -fsS --max-time 1 "$url" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  curl -sS --max-time 2 "$url" >&2 || true
  return 1
}

# `podman build` of the sidecar image (Dockerfile) on a local base image.
# --network=host: the build's `npm ci` reaches the npm registry exactly as the
# host does. Where the host trusts an extra CA (a TLS-intercepting proxy in
# front of the registry), that bundle is handed to the build as the optional
# `npm_ca` build secret, which is never stored in the image.
ci_build_sidecar_image() {
  local tag="${1:-$CI_SIDECAR_IMAGE}" base="${2:-$CI_NODE_STANDIN}" secret=()
  local ca="${NODE_EXTRA_CA_CERTS:-}"
  [ -n "$ca" ] && [ -s "$ca" ] || ca=$(npm config get cafile 2>/dev/null || true)
  [ -n "$ca" ] && [ "$ca" != "null" ] && [ "$ca" != "undefined" ] && [ -s "$ca" ] && secret=(--secret "id=npm_ca,src=$ca")
  podman build --network=host "${secret[@]}" --build-arg "NODE_IMAGE=$base" -t "$tag" .
}
