#!/usr/bin/env bash
# Every eval and benchmark, then evals/REPORT.md from their outputs (commit it with the numbers).
#
#   bash evals/bench.sh                 # everything (about 30-40 minutes on 2 cores)
#   SKIP_WHISPER=1 bash evals/bench.sh  # without the whisper.cpp comparison (the longest part)
#   PROFILE=debug bash evals/bench.sh   # the dev build (quicker to build, slower to run)
#   NOTES="..." bash evals/bench.sh     # a line about the conditions, printed in the report
#
# Needs what scripts/test.sh installs, PostgreSQL at HEARTH_TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test) and ../shared/models (or HEARTH_MODELS_DIR).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export HEARTH_MODELS_DIR="${HEARTH_MODELS_DIR:-$root/../shared/models}"
pg="${HEARTH_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
out=evals/out
mkdir -p "$out"
# PROFILE=debug uses the dev build (workspace crates unoptimised): quicker to build, slower to run.
# SKIP_BUILD=1 uses the binary already built (when only unrelated code changed since).
if [ "${PROFILE:-release}" = debug ]; then
  [ -n "${SKIP_BUILD:-}" ] || cargo build -q -p evals
  ev=target/debug/hearth-evals
else
  [ -n "${SKIP_BUILD:-}" ] || cargo build -q --release -p evals
  ev=target/release/hearth-evals
fi

# A fresh PostgreSQL database for each load run (the benches create their own tables).
fresh_pg() {
  local name="hearth_bench_$1"
  psql -q "$pg" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  echo "${pg%/*}/$name"
}

$ev scribe --corpus ../shared/corpus --corpus evals/corpus --out "$out" >/dev/null
$ev draft-bench --out "$out"
$ev asr --out "$out"
# Without a published model `asr` measures nothing; the report says why instead of "not run".
if [ ! -f "$out/asr.md" ] && [ -f "$out/asr.json" ]; then
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reason"])' "$out/asr.json" > "$out/asr.md"
fi
$ev gateway-bench --out "$out"
$ev gateway-bench --database-url "$(fresh_pg gateway)" --out "$out"
$ev bench-reminders --out "$out"
$ev bench-reminders --database-url "$pg" --out "$out"
if [ -z "${SKIP_WHISPER:-}" ]; then
  {
    echo "Random-weight tiny.en and base.en, 2 threads, no timestamps, 16-token cap per 30 s window; JSON lines from the script:"
    echo
    echo '```'
    bash evals/bench/whisper_raw/run.sh | tee "$out/whisper-bench.jsonl"
    echo '```'
    echo
    echo "Wall time, Hearth over whisper.cpp (same model, audio and settings; below 1.0 Hearth was faster):"
    echo
    python3 evals/bench/whisper_raw/ratios.py < "$out/whisper-bench.jsonl"
  } > "$out/whisper-bench.md"
fi
$ev report --out "$out" --notes "${NOTES:-}"
