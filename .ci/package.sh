#!/usr/bin/env bash
# The installable package: `npm pack` (its prepack builds dist/), the tarball
# installed into an empty project in a temporary directory, and from there:
# TypeScript compiling against the package's declarations, a script that
# imports the client by the package's name (hold a lock, its signal, its
# release), and `npx lockctl` (--version, acquire, status, hold), all against a
# sidecar started from this repository on its embedded store, on 127.0.0.1.
# The same script and lockctl run again on the machine's system Node (20 or
# later) when there is one: the built JavaScript needs no type stripping.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib/containers.sh

start=$SECONDS
REPO=$PWD
WORK=$(mktemp -d)
APP="$WORK/app"
SIDECAR_PID=""
LOSS_PID=""
cleanup() {
  local pid
  for pid in "$LOSS_PID" "$SIDECAR_PID"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

ci_node24
ci_npm_deps
ci_apt_install curl:curl

log "npm pack (prepack: npm run build)"
npm pack --pack-destination "$WORK" >"$WORK/pack.log" 2>&1 || { cat "$WORK/pack.log" >&2; die "npm pack"; }
tarball=$(ls "$WORK"/*.tgz)
version=$(node -p 'require("./package.json").version')
tar -tzf "$tarball" | sed 's|^package/||' | sort >"$WORK/files.txt"
for file in dist/src/cli/lockctl.js dist/src/client/index.js dist/src/client/index.d.ts dist/gen/lock/v1/lock_pb.js dist/package.json; do
  grep -qx "$file" "$WORK/files.txt" || die "the tarball lacks $file"
done
# Node refuses to strip types under node_modules: no source may be needed at run time.
if grep -E '\.ts$' "$WORK/files.txt" | grep -vE '\.d\.ts$'; then die "the tarball carries TypeScript sources (above)"; fi
echo "$(basename "$tarball"): $(wc -l <"$WORK/files.txt") files, $(du -k "$tarball" | cut -f1) kB"

log "install it into an empty project"
mkdir -p "$APP"
(cd "$APP" && npm init -y >/dev/null && npm pkg set type=module && npm install --no-audit --no-fund "$tarball" >"$WORK/install.log" 2>&1) ||
  { cat "$WORK/install.log" >&2; die "npm install of the tarball"; }
[ ! -e "$APP/node_modules/redlock-sidecar/src" ] || die "the installed package carries src/"

cat >"$APP/hold-check.mjs" <<'EOF'
// Imports the client by the package's name, as an application does.
import { LockNotAcquiredError, Locks } from "redlock-sidecar";

const fail = (what) => {
  throw new Error(what);
};
const locks = new Locks({ address: process.env.LOCK_ADDRESS });
const name = `package-check-${process.pid}`;
let token;
const result = await locks.hold(name, { ttl: "1s", wait: "1m30s" }, async (lease, signal) => {
  token = lease.fencingToken;
  // Past the TTL: the Hold renews the lease and the signal stays quiet.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  if (signal.aborted) fail(`signal aborted while the lease was held: ${signal.reason}`);
  const other = await locks.hold(name).catch((error) => error);
  if (!(other instanceof LockNotAcquiredError)) fail(`a second hold was not refused: ${other}`);
  return "done";
});
if (result !== "done") fail(`hold() resolved to ${result}`);
// Released when the callback settled: free again at once, with a later token.
const lease = await locks.hold(name, { ttl: "5s" });
if (lease.fencingToken <= token) fail("the fencing token did not grow");
if ((await lease.release()) !== true) fail("release() did not release");
locks.close();
console.log(`client on Node ${process.version}: held ${name} (token ${token}) past its TTL, refused a second holder, released`);
EOF

cat >"$APP/using-check.mjs" <<'EOF'
// `await using` is syntax of Node 24 and later.
import { Locks } from "redlock-sidecar";

const locks = new Locks({ address: process.env.LOCK_ADDRESS });
{
  await using lease = await locks.hold("package-using", { ttl: "5s" });
  if (lease.signal.aborted) throw new Error("lost at once");
}
// Released at the end of the scope: held again at once.
await (await locks.hold("package-using")).release();
locks.close();
console.log("await using: released at the end of its scope");
EOF

cat >"$APP/loss-check.mjs" <<'EOF'
// Holds until the sidecar goes away: the signal must abort with a LeaseLostError.
import { LeaseLostError, Locks } from "redlock-sidecar";

const locks = new Locks({ address: process.env.LOCK_ADDRESS });
await locks
  .hold("package-loss", { ttl: "5s" }, async (_lease, signal) => {
    console.log("held");
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    console.log(`signal aborted: ${signal.reason.message}`);
  })
  .then(
    () => process.exit(1),
    (error) => process.exit(error instanceof LeaseLostError && error.reason === "ended" ? 0 : 1),
  );
EOF

cat >"$APP/types-check.ts" <<'EOF'
import { LockNotAcquiredError, Locks, type Lease } from "redlock-sidecar";

const locks = new Locks({ address: "127.0.0.1:50051" });
const token: bigint = await locks.hold("x", { ttl: "30s", wait: 5000 }, async (lease: Lease, signal: AbortSignal) => (signal.aborted ? 0n : lease.fencingToken));
try {
  await using lease = await locks.hold("y", { expireOnClose: true });
  const end: Date = lease.expiresAt;
  console.log(end, token);
} catch (error) {
  if (error instanceof LockNotAcquiredError) console.log(error.retryAfterMs);
}
EOF

log "TypeScript against the installed declarations"
cat >"$APP/tsconfig.json" <<EOF
{ "compilerOptions": { "target": "es2022", "module": "nodenext", "strict": true, "noEmit": true,
  "types": ["node"], "typeRoots": ["$REPO/node_modules/@types"] }, "files": ["types-check.ts"] }
EOF
(cd "$APP" && "$REPO/node_modules/.bin/tsc" -p .) || die "types-check.ts does not compile against the package"
echo "types-check.ts compiles"

log "sidecar from the repository, on its embedded store (127.0.0.1)"
GRPC_PORT=$(ci_free_port)
ADMIN_PORT=$(ci_free_port)
LOCK_LISTEN="127.0.0.1:$GRPC_PORT" LOCK_ADMIN_LISTEN="127.0.0.1:$ADMIN_PORT" LOCK_LOG_LEVEL=warn node src/main.ts >"$WORK/sidecar.log" 2>&1 &
SIDECAR_PID=$!
ci_wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" 30 || { cat "$WORK/sidecar.log" >&2; die "the sidecar did not become ready"; }
export LOCK_ADDRESS="127.0.0.1:$GRPC_PORT" LOCK_ADMIN_ADDRESS="127.0.0.1:$ADMIN_PORT"

# Runs the client script and lockctl from the installed package: with the
# PATH's node, lockctl as users run it (npx); with another node, its bin file.
check_with() {
  local node_bin="$1" out code lockctl
  if [ "$node_bin" = "$(command -v node)" ]; then lockctl=(npx --no-install lockctl); else lockctl=("$node_bin" "$APP/node_modules/.bin/lockctl"); fi
  log "from the installed package on $("$node_bin" --version): ${lockctl[*]}"
  (cd "$APP" && "$node_bin" hold-check.mjs) || die "hold-check.mjs on $node_bin"
  out=$(cd "$APP" && "${lockctl[@]}" --version)
  [ "$out" = "lockctl $version" ] || die "lockctl --version printed '$out', not 'lockctl $version'"
  echo "$out"
  out=$(cd "$APP" && "${lockctl[@]}" acquire "package-ctl-$RANDOM" --ttl 1m30s) || die "lockctl acquire on $node_bin"
  echo "$out" | grep -q '"ttlMs":90000' || die "lockctl acquire printed $out"
  echo "lockctl acquire: $out" | sed -E 's/"leaseId":"[^"]*"/"leaseId":"…"/'
  out=$(cd "$APP" && "${lockctl[@]}" status) || die "lockctl status on $node_bin"
  echo "$out" | grep -q "SERVING" || die "lockctl status printed $out"
  echo "$out"
  code=0
  (cd "$APP" && "${lockctl[@]}" hold package-ctl-hold --ttl 1s -- sh -c 'test -n "$LOCK_FENCING_TOKEN" && exit 7') || code=$?
  [ "$code" = 7 ] || die "lockctl hold exited $code, not the command's 7"
  echo "lockctl hold: ran the command with LOCK_FENCING_TOKEN, passed its exit code on"
}

check_with "$(command -v node)"
(cd "$APP" && node using-check.mjs) || die "using-check.mjs"
system_node=/usr/bin/node
if [ -x "$system_node" ] && [ "$("$system_node" -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then
  check_with "$system_node"
else
  echo "no system Node 20 or later at $system_node: the package was checked on $(node --version) only"
fi

log "a lease lost: the sidecar stops while a client holds a lock"
(cd "$APP" && exec node loss-check.mjs) >"$WORK/loss.log" 2>&1 &
LOSS_PID=$!
for _ in $(seq 1 100); do grep -q '^held' "$WORK/loss.log" && break; sleep 0.1; done
grep -q '^held' "$WORK/loss.log" || { cat "$WORK/loss.log" >&2; die "loss-check.mjs did not take its lock"; }
kill -TERM "$SIDECAR_PID"
wait "$LOSS_PID" || { cat "$WORK/loss.log" >&2; die "the signal did not report the lost lease"; }
LOSS_PID=""
cat "$WORK/loss.log"
echo "--- .ci/package.sh took $((SECONDS - start)) s"
