#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite: SQLite + embedded store always,
# PostgreSQL + real Redis too when reachable (started if installed but stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
source scripts/services.sh
ensure_services
exec .venv/bin/python -m pytest -q -p no:cacheprovider --timeout=600 "$@"
