#!/usr/bin/env bash
# Runs before `npm test`: the integration tests start real redis-server
# processes, so make sure the binary is there. On Debian as root it is
# installed with apt; elsewhere this says what to install and fails.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing it with apt-get (needed by the integration tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  exit 0
fi
echo "redis-server not found: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)" >&2
exit 1
