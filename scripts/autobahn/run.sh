#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzingclient (cases 1.* … 10.*, 301 cases; no 12.*/13.*
# compression) against wsbench's raw WebSocket servers in echo mode, and fails on any case
# whose behavior or behaviorClose is not OK, NON-STRICT or INFORMATIONAL. See docs/autobahn.md.
#
#   scripts/autobahn/run.sh [TARGET…]      default: ws-tungstenite ws-fastwebsockets
#   scripts/autobahn/run.sh selftest       the pipeline against selftest_echo_server.py
#
# Environment:
#   WSBENCH_BIN            wsbench binary to use (default: cargo build --release -p wsbench-cli)
#   WSBENCH_CACHE          where install.sh puts the Python 2.7 virtualenv and pip's cache
#                          (default target/autobahn/cache)
#   AUTOBAHN_TIMEOUT       overall limit in seconds, install and build included (default 1800)
#   AUTOBAHN_MAX_MESSAGE_BYTES  --max-message-bytes given to the servers (default 64 MiB;
#                          the 9.* cases send messages of up to 16 MiB)
#   AUTOBAHN_SERVER_ARGS   extra arguments appended to every `serve` command line
#   AUTOBAHN_WORKDIR       where specs, logs and the full HTML/JSON reports go
#                          (default target/autobahn; open reports/servers/index.html there)
#   AUTOBAHN_RESULTS       where summary.md and summary.json go (default results/autobahn;
#                          $AUTOBAHN_WORKDIR/results when the targets include selftest)
#
# Exit: 0 every target passed; 1 a case failed, a case is missing, or a run broke;
# 2 usage or setup error (install, build, server start).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
timeout_s="${AUTOBAHN_TIMEOUT:-1800}"
max_msg="${AUTOBAHN_MAX_MESSAGE_BYTES:-67108864}"
work="${AUTOBAHN_WORKDIR:-$repo/target/autobahn}"
read -r -a extra_args <<<"${AUTOBAHN_SERVER_ARGS:-}"
cases_json='["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]'
deadline=$((SECONDS + timeout_s))

log() { printf 'autobahn: %s\n' "$*" >&2; }
die() { log "error: $*"; exit "${2:-2}"; }
# Seconds left before the overall deadline, at least 1 (`timeout 0` would mean no limit);
# callers check out_of_time first, in the main shell, so a spent budget stops the run.
remaining() {
    local r=$((deadline - SECONDS))
    printf '%s\n' "$((r > 0 ? r : 1))"
}
out_of_time() { ((SECONDS >= deadline)); }

[[ "$timeout_s" =~ ^[0-9]+$ ]] || die "AUTOBAHN_TIMEOUT must be whole seconds, got '$timeout_s'"
if ! [[ "$max_msg" =~ ^[0-9]+$ ]] || ((max_msg < 16777216)); then
    die "AUTOBAHN_MAX_MESSAGE_BYTES must be at least 16777216 (the 9.* cases), got '$max_msg'"
fi

targets=("$@")
((${#targets[@]})) || targets=(ws-tungstenite ws-fastwebsockets)
for t in "${targets[@]}"; do
    case "$t" in
        ws-tungstenite | ws-fastwebsockets | selftest) ;;
        *) die "unknown target '$t' (ws-tungstenite, ws-fastwebsockets, selftest)" ;;
    esac
done

# Every child we start is recorded here and ended on exit, whatever the exit path.
server_pid=""
wstest_pid=""
fd=""
cleanup() {
    local rc=$?
    if [[ -n "$wstest_pid" ]] && kill -0 "$wstest_pid" 2>/dev/null; then
        kill -TERM "$wstest_pid" 2>/dev/null || true
        wait "$wstest_pid" 2>/dev/null || true
    fi
    wstest_pid=""
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        (sleep 5; kill -KILL "$server_pid" 2>/dev/null) &
        local watchdog=$!
        wait "$server_pid" 2>/dev/null || true
        kill "$watchdog" 2>/dev/null || true
        wait "$watchdog" 2>/dev/null || true
    fi
    server_pid=""
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "installing / checking Autobahn|Testsuite (scripts/autobahn/install.sh)"
out_of_time && die "AUTOBAHN_TIMEOUT=$timeout_s leaves no time"
wstest="$(timeout "$(remaining)" "$here/install.sh" | tail -n1)" || die "install.sh failed"
[[ -x "$wstest" ]] || die "install.sh did not yield an executable wstest (got '$wstest')"
venv_python="$(dirname "$wstest")/python"

need_bin=0
has_selftest=0
for t in "${targets[@]}"; do
    if [[ "$t" == selftest ]]; then has_selftest=1; else need_bin=1; fi
done
# A run that includes the self-test server never overwrites the committed summary.
if ((has_selftest)); then
    results="${AUTOBAHN_RESULTS:-$work/results}"
else
    results="${AUTOBAHN_RESULTS:-$repo/results/autobahn}"
fi
bin=""
if ((need_bin)); then
    if [[ -n "${WSBENCH_BIN:-}" ]]; then
        bin="$WSBENCH_BIN"
    else
        log "building wsbench (cargo build --release -p wsbench-cli)"
        out_of_time && die "overall timeout of ${timeout_s}s reached before the build"
        (cd "$repo" && timeout "$(remaining)" cargo build --release -p wsbench-cli) \
            || die "cargo build --release -p wsbench-cli failed"
        bin="${CARGO_TARGET_DIR:-$repo/target}/release/wsbench"
    fi
    [[ -x "$bin" ]] || die "wsbench binary '$bin' is not executable"
    serve_help="$("$bin" serve --help 2>&1 || true)"
    [[ "$serve_help" == *--echo* && "$serve_help" == *--max-message-bytes* ]] \
        || die "'$bin serve' lacks --echo or --max-message-bytes; it cannot run the Autobahn cases"
fi

mkdir -p "$work"
expected="$work/expected-cases.json"
# The exact case ids the patterns select, from the installed suite itself (so the count
# is checked against the suite, not assumed).
"$venv_python" - "$expected" "$cases_json" <<'EOF' || die "cannot list the selected cases"
import json, sys
from autobahntestsuite import case
from autobahntestsuite.caseset import CaseSet
cs = CaseSet("websocket", "Case", case.Cases, case.CaseCategories, case.CaseSubCategories)
patterns = json.loads(sys.argv[2])
ids = cs.parseSpecCases({"cases": patterns})
with open(sys.argv[1], "w") as f:
    json.dump({"cases": patterns, "ids": ids}, f)
EOF
n_cases="$("$venv_python" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["ids"]))' "$expected")"
log "$n_cases cases selected by $cases_json"

# Starts one target, sets server_pid and port (from its `listening on IP:PORT` line).
start_server() {
    local t="$1" dir="$2" cmd line
    if [[ "$t" == selftest ]]; then
        cmd=(python3 "$here/selftest_echo_server.py")
    else
        cmd=("$bin" serve "$t")
    fi
    cmd+=(--bind 127.0.0.1:0 --echo --max-message-bytes "$max_msg" "${extra_args[@]}")
    printf '%q ' "${cmd[@]}" >"$dir/server.cmd"
    rm -f "$dir/server.fifo"
    mkfifo "$dir/server.fifo"
    "${cmd[@]}" >"$dir/server.fifo" 2>"$dir/server.stderr" &
    server_pid=$!
    exec {fd}<"$dir/server.fifo"
    if ! IFS= read -r -t 60 -u "$fd" line; then
        die "$t: no 'listening on' line within 60 s; stderr: $(tail -n5 "$dir/server.stderr")"
    fi
    # Keep draining stdout so the server never blocks on a full pipe.
    cat <&"$fd" >"$dir/server.stdout" &
    exec {fd}<&-
    [[ "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] \
        || die "$t: unexpected first stdout line '$line' (want 'listening on 127.0.0.1:PORT')"
    port="${BASH_REMATCH[1]}"
}

stop_server() {
    local t="$1"
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid" 2>/dev/null && rc=0 || rc=$?
        log "$t: server had exited (status $rc) before the end of the run"
        server_pid=""
        return 1
    fi
    cleanup
}

summary_args=()
broken=0
overall_start=$SECONDS
for t in "${targets[@]}"; do
    dir="$work/$t"
    if out_of_time; then
        log "$t: not run, the overall timeout of ${timeout_s}s (AUTOBAHN_TIMEOUT) is spent"
        summary_args+=(--target "$t" "$dir/reports/servers" 0)
        broken=1
        continue
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    start_server "$t" "$dir"
    url="ws://127.0.0.1:$port/ws"
    log "$t: serving on $url (pid $server_pid); running $n_cases cases"
    cat >"$dir/spec.json" <<EOF
{
  "outdir": "$dir/reports/servers",
  "servers": [{"agent": "$t", "url": "$url"}],
  "cases": $cases_json,
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
EOF
    started=$SECONDS
    rc=0
    # In the background and waited for, so a TERM/INT to this script runs the trap at once.
    (cd "$dir" && exec timeout -k 10 "$(remaining)" "$wstest" -m fuzzingclient -s spec.json) \
        >"$dir/wstest.log" 2>&1 &
    wstest_pid=$!
    wait "$wstest_pid" || rc=$?
    wstest_pid=""
    wall=$((SECONDS - started))
    if ((rc != 0)); then
        log "$t: wstest exited with status $rc after ${wall}s (124 = timeout); tail of $dir/wstest.log:"
        tail -n 20 "$dir/wstest.log" >&2 || true
        broken=1
    fi
    stop_server "$t" || broken=1
    log "$t: done in ${wall}s; full report: $dir/reports/servers/index.html"
    summary_args+=(--target "$t" "$dir/reports/servers" "$wall")
done
total=$((SECONDS - overall_start))

commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$repo" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
    commit="$commit (with uncommitted changes)"
fi
rc=0
python3 "$here/summarize.py" --out "$results" --expected "$expected" "${summary_args[@]}" \
    --meta "autobahntestsuite=$("$wstest" --autobahnversion 2>&1 | tr '\n' ' ' | sed 's/ *$//')" \
    --meta "wsbench commit=$commit" \
    --meta "server flags=$(echo --bind 127.0.0.1:0 --echo --max-message-bytes "$max_msg" "${extra_args[@]}")" \
    --meta "run date (UTC)=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --meta "wall seconds, all targets=$total" || rc=$?
log "summary written to $results/summary.md and summary.json (${total}s for ${#targets[@]} target(s))"
((broken)) && rc=1
exit "$rc"
