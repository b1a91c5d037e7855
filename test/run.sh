#!/usr/bin/env bash
# Runs the test suite with Node's own test runner on the TypeScript sources (through tsx).
#   test/run.sh          every test
#   test/run.sh unit     pure tests only (no servers, no root)
#   test/run.sh FILE…    the given files
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
if [ "${1:-}" = "unit" ]; then
  files=(test/unit/*.test.ts)
elif [ $# -gt 0 ]; then
  files=("$@")
else
  files=(test/unit/*.test.ts test/e2e/*.test.ts)
fi
mkdir -p test-artifacts
# A test that hangs fails after 5 minutes, and the whole run stops after 60, so CI reports a
# failure instead of running out its clock.
exec timeout --kill-after=30 3600 node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
  --test-reporter=spec "${files[@]}"
