#!/bin/bash
# Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d). Creates:
# - spice: owner of database spice_oms only; the processes migrate as spice at their start (DATABASE_OWNER_URL).
#   Not a superuser, cannot create roles or databases, cannot reach Temporal's data.
# - spice_app: the role the processes read and write rows with (DATABASE_URL). It owns nothing, so it
#   cannot drop, alter, truncate or create a table; spice grants it the rows (src/adapters/postgres/runtime-role.ts).
# - temporal: owner of Temporal's two databases; temporal-schema sets up their tables.
# Passwords come from the environment and go in as psql variables, never on a command line.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v spice_pw="$SPICE_PG_PASSWORD" -v spice_app_pw="$SPICE_APP_PG_PASSWORD" -v temporal_pw="$TEMPORAL_PG_PASSWORD" <<'SQL'
CREATE ROLE spice LOGIN PASSWORD :'spice_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE spice_oms OWNER spice;
REVOKE ALL ON DATABASE spice_oms FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE spice_oms TO spice;
CREATE ROLE spice_app LOGIN PASSWORD :'spice_app_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
GRANT CONNECT, TEMPORARY ON DATABASE spice_oms TO spice_app;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal, temporal_visibility FROM PUBLIC;
SQL
