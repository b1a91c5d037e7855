#!/usr/bin/env bash
# Runs the test suite with Node's own test runner on the TypeScript sources (through tsx).
#   test/run.sh          every test, then the face suites again with two worker processes
#   test/run.sh unit     pure tests only (no servers, no root), the quick fuzz run included
#   test/run.sh FILE…    the given files (GATEHOUSE_TEST_WORKERS=2 runs them with two workers)
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
again=()
if [ "${1:-}" = "unit" ]; then
  files=(test/unit/*.test.ts test/fuzz/*.test.ts)
elif [ $# -gt 0 ]; then
  files=("$@")
else
  files=(test/unit/*.test.ts test/fuzz/*.test.ts test/e2e/*.test.ts)
  # The suites of every face and of the admin, a second time with `workers: 2` (a primary and
  # two workers; test/helpers/gatehouse.ts appends it to each config a test writes).
  again=(test/e2e/access-*.test.ts test/e2e/admin-*.test.ts test/e2e/cluster-forward.test.ts
    test/e2e/redis-cluster-gateway.test.ts test/e2e/egress-*.test.ts test/e2e/port-forward.test.ts
    test/e2e/reload.test.ts test/e2e/kernel-path-netns.test.ts test/e2e/proxy-protocol.test.ts
    test/e2e/redis-users.test.ts test/e2e/metrics.test.ts test/e2e/limits.test.ts)
fi
mkdir -p test-artifacts
# A test that hangs fails after 5 minutes, and the whole run stops after 60, so CI reports a
# failure instead of running out its clock.
run() {
  timeout --kill-after=30 3600 node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
    --test-reporter=spec "$@"
}
status=0
run "${files[@]}" || status=$?
if [ ${#again[@]} -gt 0 ]; then
  echo "== the face suites again, with workers: 2"
  GATEHOUSE_TEST_WORKERS=2 run "${again[@]}" || status=$?
fi
exit $status
