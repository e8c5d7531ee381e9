#!/usr/bin/env bash
# The one command that runs every test (README):
#   1. the official Node clients (`ws`, `socket.io-client`) against wsbench's own servers and
#      the Node peers (scripts/peers/node, installed with `npm ci` from the lockfile), where
#      node and npm are on PATH;
#   2. the criterion benches, once each in test mode (debug build);
#   3. the Autobahn|Testsuite against the raw WebSocket servers, where Python 2.7 is present
#      (scripts/autobahn/install.sh --find-python decides);
#   4. every Rust unit and integration test (real servers on loopback, SQLite, the tests
#      named `*postgres*` when DATABASE_URL is set, and the cluster tests on the Redis of
#      REDIS_URL, which skip themselves without it), last, so its summary closes the output.
#
#   bash scripts/test.sh           run everything that can run here
#   bash scripts/test.sh --plan    print which steps would run and which are skipped, and why,
#                                  without running any (also: WSBENCH_TEST_PLAN=1)
#
# A step whose tool or service is missing is skipped with a `skipped: <step>: <why>` line,
# and every skipped step is listed again at the end. With WSBENCH_REQUIRE_SERVICES set (CI),
# a missing service (PostgreSQL, Redis, Node) is a failed step; only Autobahn, which needs Python
# 2.7, is still skipped where that interpreter is absent. Every step runs even when
# an earlier one failed; the exit code is non-zero if any failed. The plan and the real run
# go through the same decisions below; only `step` differs (print versus run).
set -uo pipefail
cd "$(dirname "$0")/.."

plan="${WSBENCH_TEST_PLAN:-}"
case "${1:-}" in
  "") ;;
  --plan) plan=1 ;;
  *) echo "usage: bash scripts/test.sh [--plan]" >&2; exit 2 ;;
esac
required="${WSBENCH_REQUIRE_SERVICES:-}"

failed=()
skipped=()
step() { # name, command…
  local name="$1" cmd; shift
  if [ -n "$plan" ]; then
    printf -v cmd '%q ' "$@"
    echo "would run: $name: ${cmd% }"
    return
  fi
  echo
  echo "== $name"
  if ! "$@"; then
    echo "FAILED: $name"
    failed+=("$name")
  fi
}
# A step that cannot run here, skipped visibly.
skip() { # name, why
  [ -n "$plan" ] || echo
  echo "skipped: $1: $2"
  skipped+=("$1")
}
# A step whose service is missing: skipped, or failed when WSBENCH_REQUIRE_SERVICES is set.
unavailable() { # name, why
  if [ -n "$required" ]; then
    [ -n "$plan" ] || echo
    echo "FAILED: $1: $2, and WSBENCH_REQUIRE_SERVICES is set"
    failed+=("$1")
  else
    skip "$1" "$2"
  fi
}

step "cargo build (the wsbench binary the tests start)" cargo build --workspace --bins
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" = /* ]] || target_dir="$PWD/$target_dir"
bin="$target_dir/debug/wsbench"

pg_why="DATABASE_URL not set (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  conf="scripts/peers/node/run-conformance.sh"
  step "official clients vs ws-tungstenite" bash "$conf" --protocol raw -- "$bin" serve ws-tungstenite --bind 127.0.0.1:0
  step "official clients vs ws-fastwebsockets" bash "$conf" --protocol raw -- "$bin" serve ws-fastwebsockets --bind 127.0.0.1:0
  step "official clients vs sio-socketioxide (websocket, polling)" bash "$conf" --protocol sio --transports websocket,polling -- "$bin" serve sio-socketioxide --bind 127.0.0.1:0
  if [ -n "${DATABASE_URL:-}" ]; then
    step "official clients vs ws-tungstenite on PostgreSQL" bash "$conf" --protocol raw -- "$bin" serve ws-tungstenite --bind 127.0.0.1:0 --database "$DATABASE_URL"
  else
    unavailable "official clients vs ws-tungstenite on PostgreSQL" "$pg_why"
  fi
  step "official clients vs node-ws" bash "$conf" --protocol raw -- node scripts/peers/node/ws-server.js --bind 127.0.0.1:0
  step "official clients vs node-socketio (websocket, polling)" bash "$conf" --protocol sio --transports websocket,polling -- node scripts/peers/node/socketio-server.js --bind 127.0.0.1:0
  step "Node peers' own tests" bash -c 'cd scripts/peers/node && node --test servers.test.js'
  # The production features (JWT, CORS, rate limit; namespaces always): every target started
  # with all three flags, checked by features.test.js with the official clients.
  feat=(--jwt-secret wsbench-test-secret --cors-origin http://allowed.test --rate-limit 20/s)
  feat_env=(env WSBENCH_JWT_SECRET=wsbench-test-secret WSBENCH_CORS_ORIGIN=http://allowed.test WSBENCH_RATE_LIMIT=20)
  for t in ws-tungstenite ws-fastwebsockets; do
    step "production features, official clients vs $t" "${feat_env[@]}" bash "$conf" --protocol raw --driver features.test.js -- "$bin" serve "$t" --bind 127.0.0.1:0 "${feat[@]}"
  done
  step "production features, official clients vs sio-socketioxide (websocket, polling)" "${feat_env[@]}" bash "$conf" --protocol sio --driver features.test.js -- "$bin" serve sio-socketioxide --bind 127.0.0.1:0 "${feat[@]}"
  step "production features, official clients vs node-ws" "${feat_env[@]}" bash "$conf" --protocol raw --driver features.test.js -- node scripts/peers/node/ws-server.js --bind 127.0.0.1:0 "${feat[@]}"
  step "production features, official clients vs node-socketio (websocket, polling)" "${feat_env[@]}" bash "$conf" --protocol sio --driver features.test.js -- node scripts/peers/node/socketio-server.js --bind 127.0.0.1:0 "${feat[@]}"
else
  unavailable "Node conformance tests and the Node peers' own tests" \
    "node and npm are not on PATH (install Node >= 20 with npm)"
fi

# Without `--bench`, criterion runs each benchmark once as a test: this checks every bench
# on the debug build the tests already need (`cargo bench` measures, in release).
step "criterion benches, once each (test mode)" cargo test --workspace --benches

autobahn="Autobahn|Testsuite (cases 1-10)"
if py27_why="$(bash scripts/autobahn/install.sh --find-python 2>&1 >/dev/null)"; then
  # pass/fail conformance, not speed: the debug binary the tests built will do
  step "$autobahn" env WSBENCH_BIN="$bin" AUTOBAHN_RESULTS="$PWD/target/autobahn/results" bash scripts/autobahn/run.sh
else
  # Python 2.7 is optional even in CI: without it Autobahn is skipped, never failed
  skip "$autobahn" "${py27_why#autobahn-install: error: }"
fi

# The PostgreSQL tests are the ones with `postgres` in their name. Without DATABASE_URL they
# are left out by name, so the runner's summary counts them as skipped; with
# WSBENCH_REQUIRE_SERVICES set they always run (and fail without a database).
pg_tests="the Rust tests named *postgres*"
if [ -n "${DATABASE_URL:-}" ] || [ -n "$required" ]; then
  [ -n "${DATABASE_URL:-}" ] || unavailable "$pg_tests" "$pg_why"
  nextest_filter=()
  cargo_test_skip=()
else
  unavailable "$pg_tests" "$pg_why"
  nextest_filter=(-E 'not test(postgres)')
  cargo_test_skip=(-- --skip postgres)
fi
# The cluster tests (crates/loadgen/tests/{cluster_contract,run_cluster}.rs, the cluster
# restart in crates/cli/tests/faults.rs, the Redis cache in rest_variants.rs) read REDIS_URL
# themselves: without it they print why and pass, and with WSBENCH_REQUIRE_SERVICES set they
# fail. Said here too, so the closing list names them.
if [ -z "${REDIS_URL:-}" ]; then
  unavailable "the Rust cluster tests (Redis)" "REDIS_URL not set (e.g. REDIS_URL=redis://127.0.0.1:6379)"
fi
if cargo nextest --version >/dev/null 2>&1; then
  step "cargo nextest (Rust tests)" cargo nextest run --workspace --no-fail-fast --failure-output final "${nextest_filter[@]}"
else
  step "cargo test (Rust tests)" cargo test --workspace --no-fail-fast "${cargo_test_skip[@]}"
fi

[ -n "$plan" ] || echo
if [ ${#skipped[@]} -gt 0 ]; then
  printf 'skipped steps (%d):\n' "${#skipped[@]}"
  printf '  - %s\n' "${skipped[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed steps (%d):\n' "${#failed[@]}"
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
