#!/usr/bin/env bash
# §4.3 option 2: roll a deployment back to its previous revision, then wait for it to be ready.
# The approved `rollback` action runs `bash scripts/rollback.sh <target>` (config/preskool.yaml)
# on the worker's machine, from the repository's root; its output and exit code reach the bridge.
#
#   IRP_K8S_NAMESPACE   the namespace (default: preskool, as in §4.3)
#   IRP_DRILL=1         a drill: print what would run, change nothing, exit 0 (`make up` with the
#                       sandbox sets it)
#   KUBECONFIG          read by kubectl itself, as always
set -euo pipefail

target="${1:-}"
namespace="${IRP_K8S_NAMESPACE:-preskool}"
if [[ $# -ne 1 || ! "$target" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]]; then
  echo "usage: rollback.sh DEPLOYMENT (one Kubernetes name: lowercase letters, digits and -)" >&2
  exit 2
fi

undo=(kubectl rollout undo "deployment/$target" -n "$namespace")
wait=(kubectl rollout status "deployment/$target" -n "$namespace" --timeout=10m)

if [[ "${IRP_DRILL:-}" == 1 || "${IRP_DRILL:-}" == true ]]; then
  echo "DRILL (IRP_DRILL=$IRP_DRILL), nothing runs: ${undo[*]} && ${wait[*]}"
  exit 0
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "rollback.sh: kubectl is not installed on the worker's machine, so nothing was rolled back." >&2
  echo "Install kubectl with access to namespace $namespace, or run by hand: ${undo[*]}" >&2
  exit 127
fi
echo "+ ${undo[*]}"
"${undo[@]}"
echo "+ ${wait[*]}"
"${wait[@]}"
