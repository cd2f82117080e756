#!/bin/sh
# One-shot (docker-compose.yml's temporal-namespace, temporalio/admin-tools): once the server is
# healthy, create the incidents' namespace with its retention, or set the retention of the one
# that exists (an install made with auto-setup's 24h default gets the longer one too).
#
# Retention is how long Temporal keeps a CLOSED workflow's history. An incident stays open through
# the §8 week of follow-ups (report 24 h, post-mortem and Jira items 72 h, runbook and public
# post-mortem 1 week) and closes after; its history, timeline and ledger must still be there for
# the post-mortem review and audits that come after. Issue 23 found a 24 h retention let Temporal
# forget a closed incident before its follow-ups were done. 30 days keeps a month.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${RETENTION:?}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do
  echo "waiting for the Temporal server"; sleep 2
done
if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  temporal operator namespace update -n "$NAMESPACE" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS"
  echo "namespace $NAMESPACE: retention $RETENTION"
else
  temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS" \
    --description "PreSkool incident response"
  echo "namespace $NAMESPACE created, retention $RETENTION"
fi
