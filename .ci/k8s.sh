#!/usr/bin/env bash
# Kubernetes manifests (deploy/kubernetes): offline validation against the
# Kubernetes v1.36 API schemas (kubernetes-models' compiled validators),
# unknown fields, the kustomization's resource list and the sidecar's rules.
# No cluster is needed. The negative cases (deliberately broken manifests
# must be rejected) are test/deploy/validate-k8s.test.ts, part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib/containers.sh

start=$SECONDS
ci_node24
ci_npm_deps
log "validate deploy/kubernetes"
node scripts/validate-k8s.ts deploy/kubernetes
echo "--- .ci/k8s.sh took $((SECONDS - start)) s"
