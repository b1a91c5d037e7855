#!/usr/bin/env bash
# The one command that installs what the tests need and runs them all (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm ci --no-audit --no-fund
npm run --silent typecheck
npm run --silent lint
npm run --silent format:check
bash test/run.sh
