#!/usr/bin/env bash
# Used to build the initial revision from the models before the first landing. Do not run
# it any more: 0001 is frozen; add new revisions with `alembic revision --autogenerate`.
set -euo pipefail
exec 9>/tmp/ccapi-regen-migration.lock
flock 9
cd "$(dirname "$0")/.."
db="ccapi_regen_$$"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
trap 'psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
rm -f alembic/versions/*_0001_initial_schema.py
DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$db" .venv/bin/alembic revision \
  --autogenerate --rev-id 0001 -m "initial schema" >/dev/null
f=$(ls alembic/versions/*_0001_initial_schema.py)
.venv/bin/ruff format -q "$f"
.venv/bin/ruff check -q --fix "$f" || true
echo "$f"
