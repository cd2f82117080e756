#!/bin/sh
# One-shot (docker-compose.yml's temporal-schema, temporalio/admin-tools): create the two PostgreSQL
# databases Temporal needs and bring their schemas to the version this admin-tools image carries,
# as temporalio/samples-server's compose/scripts/setup-postgres.sh does. Safe to run on every
# `up`: an existing database is kept, setup-schema skips a schema already past 0.0, and
# update-schema applies only the versions not yet applied (that is how a server upgrade migrates).
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
port="${DB_PORT:-5432}"
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$port" "$@"; }

until nc -z -w 5 "$POSTGRES_SEEDS" "$port"; do echo "waiting for PostgreSQL"; sleep 2; done

for db in temporal temporal_visibility; do
  if ! out=$(sql --db "$db" create 2>&1); then
    case "$out" in
      *"already exists"*) echo "database $db exists" ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
  fi
done
sql --db temporal setup-schema -v 0.0
sql --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
sql --db temporal_visibility setup-schema -v 0.0
sql --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "Temporal's schemas are up to date"
