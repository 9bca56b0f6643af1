#!/bin/bash
# Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d). Creates:
# - spice: the application's role, owner of database spice_oms only (its migrations create the
#   tables there). Not a superuser, cannot create roles or databases, cannot reach Temporal's data.
# - temporal: owner of Temporal's two databases; temporal-schema sets up their tables.
# Passwords come from the environment and go in as psql variables, never on a command line.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v spice_pw="$SPICE_PG_PASSWORD" -v temporal_pw="$TEMPORAL_PG_PASSWORD" <<'SQL'
CREATE ROLE spice LOGIN PASSWORD :'spice_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE spice_oms OWNER spice;
REVOKE ALL ON DATABASE spice_oms FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE spice_oms TO spice;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal, temporal_visibility FROM PUBLIC;
SQL
