#!/usr/bin/env bash
# Runs before `npm test`: the integration tests start real redis-server
# processes, and the security tests make throwaway certificates with the
# openssl CLI, so make sure both binaries are there. On Debian as root they
# are installed with apt; elsewhere this says what to install and fails.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "${missing[*]} not found: installing with apt-get (needed by the integration and security tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "${missing[*]} not found: install it (Debian/Ubuntu: apt-get install ${missing[*]}; macOS: brew install redis openssl)" >&2
exit 1
