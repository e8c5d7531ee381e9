#!/usr/bin/env bash
# Load-generator efficiency: Artillery's Socket.IO engine versus wsbench, same server, same
# workload, one run (docs/artillery.md).
#
#   compare.sh [--vus N] [--rate-per-vu R] [--duration S] [--out DIR]
#
# Starts one `wsbench serve sio-socketioxide` on 127.0.0.1:0, then against that server runs
#   1. Artillery with 1 user and 1 request (its fixed cost: start-up, one connection, report),
#   2. Artillery with N users, each emitting `echo` with an ack at R requests/s for S s
#      (echo-ack.yml),
#   3. `wsbench run echo-equivalent.toml` with the same N clients, N x R requests/s, S s,
# measuring each load generator's CPU time (user + system of its whole process tree, from
# /usr/bin/time) and the server's CPU time during each run (/proc). Writes the side-by-side
# table to DIR/summary.md (default: results/artillery) beside the raw Artillery reports,
# wsbench's run directory and measurements.json, and prints it.
# Defaults: 50 users, 20 requests/s each, 30 s. Traffic goes to 127.0.0.1 only; every step is
# bounded by `timeout`, and the server is killed on exit.
# Environment: WSBENCH_BIN=path skips `cargo build --release -p wsbench-cli`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
vus=50
rate_per_vu=20
duration=30
out="$root/results/artillery"
usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --vus) vus="${2:-}"; shift 2 ;;
    --rate-per-vu) rate_per_vu="${2:-}"; shift 2 ;;
    --duration) duration="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    *) usage ;;
  esac
done
[[ "$vus" =~ ^[1-9][0-9]*$ && "$rate_per_vu" =~ ^[1-9][0-9]*$ && "$duration" =~ ^[1-9][0-9]*$ ]] || {
  echo "compare: --vus, --rate-per-vu and --duration take positive integers" >&2
  exit 2
}
iterations=$((rate_per_vu * duration))
total_rate=$((vus * rate_per_vu))
think_ms="$(awk -v r="$rate_per_vu" 'BEGIN { printf "%g", 1000 / r }')"
bound=$((duration * 4 + 120)) # seconds any one step may take before it is stopped

# Nothing may be fetched from outside the npm registry: Artillery depends on Playwright's
# Chromium package, whose install script downloads a browser. --ignore-scripts skips it (and
# the other install scripts, none of which the Socket.IO engine needs); the variables say the
# same to any script that runs anyway.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 ARTILLERY_DISABLE_TELEMETRY=true
if [[ ! -d "$here/node_modules" || "$here/package-lock.json" -nt "$here/node_modules" ]]; then
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >&2)
  touch "$here/node_modules"
fi
# offline.cjs keeps Artillery on loopback (it pings PostHog even with telemetry disabled).
artillery=(node --require "$here/offline.cjs" "$here/node_modules/artillery/bin/run")

bin="${WSBENCH_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release -p wsbench-cli >&2)
  bin="$root/target/release/wsbench"
fi

# With two or more CPUs the server gets the first one and each load generator, in turn, the
# second, so neither tool shares its core with the server and both get the same core.
server_pin=()
gen_pin=()
expand_cpus() {
  local part a b
  IFS=, read -r -a parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ "$part" == *-* ]]; then
      a="${part%-*}" b="${part#*-}"
      seq "$a" "$b"
    else
      echo "$part"
    fi
  done
}
mapfile -t cpus < <(expand_cpus "$(taskset -pc $$ | sed 's/.*: //')")
if [[ ${#cpus[@]} -ge 2 ]]; then
  server_pin=(taskset -c "${cpus[0]}")
  gen_pin=(taskset -c "${cpus[1]}")
  pinning="server on CPU ${cpus[0]}, load generator on CPU ${cpus[1]}"
else
  pinning="not pinned (one CPU)"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    sleep 0.5
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkfifo "$work/stdout"
"${server_pin[@]}" "$bin" serve sio-socketioxide --bind 127.0.0.1:0 >"$work/stdout" 2>"$work/server.err" &
server_pid=$!
exec 3<"$work/stdout"
if ! IFS= read -r -t 30 -u 3 line; then
  echo "compare: the server printed no line within 30 s" >&2
  cat "$work/server.err" >&2
  exit 1
fi
if [[ ! "$line" =~ ^listening\ on\ (127\.0\.0\.1):([0-9]+)$ ]]; then
  echo "compare: expected 'listening on 127.0.0.1:PORT', got: $line" >&2
  exit 1
fi
url="http://${BASH_REMATCH[1]}:${BASH_REMATCH[2]}"
cat <&3 >/dev/null &
echo "compare: sio-socketioxide listening on $url ($pinning)" >&2

clk_tck="$(getconf CLK_TCK)"
# The server's CPU seconds so far (utime + stime, fields 14 and 15 of /proc/PID/stat).
server_cpu() {
  local stat
  stat="$(<"/proc/$server_pid/stat")"
  awk -v t="$clk_tck" '{ printf "%.3f", ($12 + $13) / t }' <<<"${stat##*) }"
}
# Runs a load generator under /usr/bin/time; prints "user sys wall maxrss_kb server_cpu_s".
measured() {
  local name="$1" before after code
  shift
  before="$(server_cpu)"
  set +e
  /usr/bin/time -f '%U %S %e %M' -o "$work/time-$name" \
    timeout --kill-after=10 "$bound" "${gen_pin[@]}" "$@" >"$work/log-$name" 2>&1
  code=$?
  set -e
  after="$(server_cpu)"
  if [[ $code -ne 0 ]]; then
    echo "compare: $name exited with code $code; its output:" >&2
    tail -40 "$work/log-$name" >&2
    exit 1
  fi
  echo "$(tail -1 "$work/time-$name") $(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.3f", b - a }')"
}

run_artillery() {
  local name="$1" users="$2" iters="$3"
  local phases="{\"config\":{\"phases\":[{\"name\":\"users\",\"duration\":1,\"arrivalCount\":$users}]}}"
  local vars="{\"iterations\":$iters,\"think\":\"${think_ms}ms\"}"
  measured "$name" "${artillery[@]}" run -t "$url" --overrides "$phases" --variables "$vars" \
    -o "$work/$name.json" "$here/echo-ack.yml"
}

echo "compare: Artillery, fixed cost (1 user, 1 request)" >&2
art_base="$(run_artillery artillery-baseline 1 1)"
echo "compare: Artillery, $vus users x $rate_per_vu req/s x ${duration} s" >&2
art_main="$(run_artillery artillery "$vus" "$iterations")"
echo "compare: wsbench, $vus clients, $total_rate req/s, ${duration} s" >&2
rm -rf "$work/wsbench-run"
ws_main="$(measured wsbench "$bin" run "$here/echo-equivalent.toml" --targets "sio=$url" \
  --clients "$vus" --rate "$total_rate" --measure-s "$duration" --out "$work/wsbench-run" --no-progress)"

# Everything is in: replace the files of the previous result (other files in DIR stay).
mkdir -p "$out"
rm -rf "$out/wsbench-run"
rm -f "$out"/{summary.md,measurements.json,artillery-report.json,artillery-baseline-report.json,artillery-console.txt}
cp "$work/artillery.json" "$out/artillery-report.json"
cp "$work/artillery-baseline.json" "$out/artillery-baseline-report.json"
cp "$work/log-artillery" "$out/artillery-console.txt"
cp -r "$work/wsbench-run" "$out/wsbench-run"
cat >"$out/measurements.json" <<EOF
{
  "vus": $vus,
  "rate_per_vu": $rate_per_vu,
  "duration_s": $duration,
  "iterations": $iterations,
  "think_ms": $think_ms,
  "payload_bytes": 64,
  "server": "wsbench serve sio-socketioxide ($url)",
  "pinning": "$pinning",
  "node": "$(node --version)",
  "artillery_version": "$(node -p "require('$here/node_modules/artillery/package.json').version")",
  "socket_io_client_version": "$(node -p "require('$here/node_modules/socket.io-client/package.json').version")",
  "wsbench_commit": "$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "time_fields": "user_s sys_s wall_s maxrss_kb server_cpu_s",
  "artillery_baseline": "$art_base",
  "artillery": "$art_main",
  "wsbench": "$ws_main"
}
EOF
node "$here/summarize.mjs" "$out"
