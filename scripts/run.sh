#!/usr/bin/env bash
# Runs Hearth on its embedded defaults: SQLite database and key file in ./data, console
# channel (messages are shown to staff, nothing is sent), a fictional demo practice seeded on
# first run, listening on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
exec cargo run --bin hearth -- serve --data-dir ./data --demo-if-empty "$@"
