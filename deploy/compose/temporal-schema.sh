#!/bin/sh
# One shot (temporalio/admin-tools): sets up or upgrades the schemas of Temporal's two databases,
# which postgres-init.sh created. Idempotent: a second run finds the versions current.
# The password comes from SQL_PASSWORD (the tool's own variable), never from the command line.
set -eu
schema=/etc/temporal/schema/postgresql/v12
for pair in "temporal:temporal" "temporal_visibility:visibility"; do
  db=${pair%%:*}
  dir=${pair##*:}
  temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal --db "$db" setup-schema -v 0.0
  temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal --db "$db" update-schema -d "$schema/$dir/versioned"
done
echo "temporal-schema: done"
