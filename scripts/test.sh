#!/usr/bin/env bash
# Runs every Hearth test: installs what the build needs, then `cargo test` for the whole
# workspace against SQLite (temporary files) and PostgreSQL (HEARTH_TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# channels' cross-check signs webhooks with Twilio's own SDK (channels/tests/twilio_sdk_sign.py).
python3 -c 'import twilio' 2>/dev/null || python3 -m pip install -q twilio

# Real model files for tests (see ../shared/models/README.md).
if [ -z "${HEARTH_MODELS_DIR:-}" ] && [ -d ../shared/models ]; then
  HEARTH_MODELS_DIR="$(cd ../shared/models && pwd)"
fi
export HEARTH_MODELS_DIR
export HEARTH_TEST_DATABASE_URL="${HEARTH_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

# The PostgreSQL tests are not optional: say how to get a server rather than skipping them.
if ! command -v pg_isready >/dev/null || ! pg_isready -q -d "$HEARTH_TEST_DATABASE_URL"; then
  cat >&2 <<MSG
hearth: no PostgreSQL answers at $HEARTH_TEST_DATABASE_URL.
  Start one (Debian: apt-get install -y postgresql && pg_ctlcluster 15 main start), allow
  local trust or password auth, and set HEARTH_TEST_DATABASE_URL to a database you may create
  schemas in, e.g. postgres://postgres@127.0.0.1:5432/test
MSG
  exit 1
fi

cargo test --workspace --no-fail-fast "$@"
