#!/usr/bin/env bash
# What `npm test`'s lint costs, done per project (each project's `lint` target: eslint, then a tsc
# over the project and every source it imports, so shared packages are checked again for each
# importer) against done once (`npm run lint`: one eslint and one tsc over the root tsconfig.json).
# Prints wall seconds per way; compare the ratios within one run. No nx cache is used.
# Usage: bash bench/lint_time.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_SKIP_NX_CACHE=true

timed() {
  local tag=$1
  shift
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  printf '%-28s %6.1f s\n' "$tag" "$(echo "$end - $start" | bc)"
}

npx nx show projects >/dev/null
timed 'per project, one at a time' npx nx run-many -t lint --parallel=1 --skip-nx-cache
timed 'per project, two at a time' npx nx run-many -t lint --parallel=2 --skip-nx-cache
timed 'once (npm run lint)' npm run lint
timed '  of which eslint .' npx eslint .
timed '  of which tsc' npx tsc -p tsconfig.json
