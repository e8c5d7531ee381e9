#!/usr/bin/env bash
# The one command that runs every test (README):
#   1. the official Node clients (`ws`, `socket.io-client`) against wsbench's own servers and
#      the Node peers (scripts/peers/node, installed with `npm ci` from the lockfile);
#   2. the criterion benches, once each in test mode (debug build);
#   3. the Autobahn|Testsuite against the raw WebSocket servers, where Python 2.7 is present;
#   4. every Rust unit and integration test (real servers on loopback, SQLite, and
#      PostgreSQL when DATABASE_URL is set), last, so its summary closes the output.
# Every step runs even when an earlier one failed; the exit code is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() { # name, command…
  local name="$1"; shift
  echo
  echo "== $name"
  if ! "$@"; then
    echo "FAILED: $name"
    failed+=("$name")
  fi
}

step "cargo build (the wsbench binary the tests start)" cargo build --workspace --bins
bin="$PWD/target/debug/wsbench"

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  conf="scripts/peers/node/run-conformance.sh"
  step "official clients vs ws-tungstenite" bash "$conf" --protocol raw -- "$bin" serve ws-tungstenite --bind 127.0.0.1:0
  step "official clients vs ws-fastwebsockets" bash "$conf" --protocol raw -- "$bin" serve ws-fastwebsockets --bind 127.0.0.1:0
  step "official clients vs sio-socketioxide (websocket, polling)" bash "$conf" --protocol sio --transports websocket,polling -- "$bin" serve sio-socketioxide --bind 127.0.0.1:0
  if [ -n "${DATABASE_URL:-}" ]; then
    step "official clients vs ws-tungstenite on PostgreSQL" bash "$conf" --protocol raw -- "$bin" serve ws-tungstenite --bind 127.0.0.1:0 --database "$DATABASE_URL"
  fi
  step "official clients vs node-ws" bash "$conf" --protocol raw -- node scripts/peers/node/ws-server.js --bind 127.0.0.1:0
  step "official clients vs node-socketio (websocket, polling)" bash "$conf" --protocol sio --transports websocket,polling -- node scripts/peers/node/socketio-server.js --bind 127.0.0.1:0
  step "Node peers' own tests" bash -c 'cd scripts/peers/node && node --test servers.test.js'
elif [ -n "${WSBENCH_REQUIRE_SERVICES:-}" ]; then
  echo "FAILED: node and npm are required here (WSBENCH_REQUIRE_SERVICES is set)"
  failed+=("node missing")
else
  echo "skipped: the Node conformance tests need node and npm on PATH"
fi

# Without `--bench`, criterion runs each benchmark once as a test: this checks every bench
# on the debug build the tests already need (`cargo bench` measures, in release).
step "criterion benches, once each (test mode)" cargo test --workspace --benches

if [ -x scripts/autobahn/run.sh ]; then
  # pass/fail conformance, not speed: the debug binary the tests built will do
  step "Autobahn|Testsuite (cases 1-10)" env WSBENCH_BIN="$bin" AUTOBAHN_RESULTS="$PWD/target/autobahn/results" bash scripts/autobahn/run.sh
fi

if cargo nextest --version >/dev/null 2>&1; then
  step "cargo nextest (Rust tests)" cargo nextest run --workspace --no-fail-fast --failure-output final
else
  step "cargo test (Rust tests)" cargo test --workspace --no-fail-fast
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "failed steps: ${failed[*]}"
  exit 1
fi
