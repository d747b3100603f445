#!/usr/bin/env bash
# Browser tests of the portal. Builds nothing: it runs the `pmd` binary given in PMD_BIN
# (default: debug/pmd under CARGO_TARGET_DIR, else under this repository's target/), starts
# `pmd up` on a free port with a fresh data directory, waits for its ready line, runs the
# tests in tests/ with Node's test runner (Playwright driving the system's Chromium,
# CHROMIUM=/usr/bin/chromium by default), and stops it again.
#
#   cargo build -p pmd --bin pmd
#   (cd e2e && npm ci)
#   e2e/run.sh                          # every tests/*.test.mjs
#   e2e/run.sh tests/portal.test.mjs    # just these (paths relative to e2e/)
#
# Screenshots: target/e2e-screenshots/ (PMD_SCREENSHOTS to change); with PMD_DOCS_IMG=docs/img
# they are also written there for the documentation.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
pmd_bin="${PMD_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/pmd}"
if [[ ! -x "$pmd_bin" ]]; then
  echo "e2e: no pmd binary at $pmd_bin; build it (cargo build -p pmd --bin pmd) or set PMD_BIN" >&2
  exit 2
fi
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  echo "e2e: run 'npm ci' in $here first" >&2
  exit 2
fi
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "e2e: no Chromium at $chromium (apt-get install -y chromium, or set CHROMIUM)" >&2
  exit 2
fi

work="$(mktemp -d -t pmd-e2e.XXXXXX)"
pmd_pid=""
cleanup() {
  if [[ -n "$pmd_pid" ]] && kill -0 "$pmd_pid" 2>/dev/null; then
    kill -TERM "$pmd_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pmd_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pmd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$pmd_bin" --data-dir "$work/data" up --http-port 0 --log-format json \
  >"$work/stdout" 2>"$work/pmd.log" &
pmd_pid=$!

# The first line on stdout is `pmd ready http://127.0.0.1:PORT` once every service serves
# and the demo data is in.
url=""
for _ in $(seq 1 900); do
  line="$(head -n 1 "$work/stdout" 2>/dev/null || true)"
  case "$line" in
    "pmd ready "*) url="${line#pmd ready }"; break ;;
  esac
  if ! kill -0 "$pmd_pid" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
if [[ -z "$url" ]]; then
  echo "e2e: pmd up did not report ready; its log:" >&2
  tail -n 50 "$work/pmd.log" >&2 || true
  exit 1
fi
echo "e2e: pmd up at $url"

tests=("$@")
if [[ ${#tests[@]} -eq 0 ]]; then
  tests=("$here"/tests/*.test.mjs)
fi
status=0
(
  cd "$here"
  export PMD_URL="$url" PMD_BIN="$pmd_bin" PMD_DATA_DIR="$work/data" CHROMIUM="$chromium"
  export PMD_SCREENSHOTS="${PMD_SCREENSHOTS:-$repo/target/e2e-screenshots}"
  node --test "${tests[@]}"
) || status=$?
if [[ $status -ne 0 ]]; then
  echo "e2e: tests failed; the last lines of pmd's log:" >&2
  tail -n 30 "$work/pmd.log" >&2 || true
fi
exit $status
