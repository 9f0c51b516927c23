#!/usr/bin/env bash
# Set up (first run only) and run crm-bot on the embedded defaults with the example config:
# SQLite under ./data, in-process queue, web server + worker + scheduler in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
exec .venv/bin/crm-bot serve --config "${CRM_BOT_CONFIG:-config/crm-bot.example.yaml}" "$@"
