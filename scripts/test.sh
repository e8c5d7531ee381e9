#!/usr/bin/env bash
# The one command that runs every test (README): Rust unit + integration tests (real servers
# on loopback, SQLite, and PostgreSQL when DATABASE_URL is set), the criterion benches once
# each in test mode, the Node peers' conformance with the official clients, and the
# Autobahn|Testsuite where Python 2.7 is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Node peers: locked install (registry only).
if command -v npm >/dev/null 2>&1 && [ -f scripts/peers/node/package-lock.json ]; then
  echo "== npm ci (scripts/peers/node)"
  (cd scripts/peers/node && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "note: npm or scripts/peers/node/package-lock.json missing: Node peer tests will say they are skipped"
fi

echo "== cargo build (debug binaries the tests spawn)"
cargo build --workspace --bins

echo "== criterion benches, once each (test mode)"
cargo bench --workspace --quiet -- --test 2>&1 | tail -n 40

if [ -x scripts/autobahn/run.sh ]; then
  echo "== Autobahn|Testsuite"
  if py27="$(bash scripts/autobahn/find-python27.sh 2>/dev/null)"; then
    WSBENCH_BIN="$PWD/target/release/wsbench" bash scripts/autobahn/run.sh
  else
    echo "skipped Autobahn|Testsuite: Python 2.7 not found (pyenv versions)"
  fi
fi

echo "== cargo nextest"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi
