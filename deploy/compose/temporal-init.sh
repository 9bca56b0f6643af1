#!/bin/sh
# One shot (temporalio/admin-tools), after the server is healthy: the namespace spice-oms uses and the
# custom search attributes every command run carries (the same list as scripts/stack/services.ts).
# Both steps tolerate "already exists", so the service can run at every `up`.
set -eu
ns=${TEMPORAL_NAMESPACE:-default}
temporal operator namespace describe --namespace "$ns" > /dev/null 2>&1 ||
  temporal operator namespace create --namespace "$ns" --retention 72h
for name in CommandType AggregateType AggregateId DatabaseName StorageMode; do
  temporal operator search-attribute list --namespace "$ns" | grep -q "^ *$name " ||
    temporal operator search-attribute create --namespace "$ns" --name "$name" --type Keyword
done
echo "temporal-init: namespace $ns ready"
