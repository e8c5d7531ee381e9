#!/usr/bin/env bash
# How lean is wsbench's HTTP poller? Starts one `wsbench serve TARGET` pinned to core 0, then
# drives the same endpoint, `GET /api/dashboard` (one SELECT each), from core 1 twice:
#
#   1. wrk (keep-alive HTTP/1.1, closed loop: each connection sends its next request as soon
#      as the last one returned);
#   2. wsbench's own poller: `wsbench run` of a polling-vs-push scenario, variant `poll`,
#      with as many viewers as wrk has connections and a poll interval short enough that
#      every viewer is always busy (the viewers skip the ticks they miss, so this too is a
#      closed loop), against the same server by URL.
#
# and prints, side by side, requests, load-generator CPU seconds (user + system) and
# requests per CPU-second, then wsbench ÷ wrk, with the server's CPU per request beside each.
#
#   scripts/wrk/compare.sh WSBENCH_BINARY [OUT_DIR]
#
# Settings (environment): CONNECTIONS (default 100), SECONDS_EACH (measured seconds per tool,
# default 10), TARGET (default ws-tungstenite; any HTTP target of `wsbench serve`),
# DATABASE (default sqlite; e.g. postgres://postgres@127.0.0.1:5432/test).
#
# Needs wrk (Debian/Ubuntu: `sudo apt-get install wrk`) and taskset (util-linux), and two
# CPUs. It writes OUT_DIR (default ./wrk-compare) with wrk's output, the run's summary.csv
# and compare.txt. The figures depend on the machine: docs/polling-vs-push.md, "The HTTP
# poller against wrk", says how to read them; commit them only from a full run.
set -euo pipefail

usage="usage: scripts/wrk/compare.sh WSBENCH_BINARY [OUT_DIR]"
bin=${1:?$usage}
out=${2:-wrk-compare}
connections=${CONNECTIONS:-100}
seconds=${SECONDS_EACH:-10}
target=${TARGET:-ws-tungstenite}
database=${DATABASE:-sqlite}

if ! command -v wrk >/dev/null 2>&1; then
  echo "compare.sh: wrk not found. Install it from your distribution:" >&2
  echo "  Debian/Ubuntu: sudo apt-get install wrk" >&2
  echo "  (or build it from https://github.com/wg/wrk and put it on PATH)" >&2
  exit 2
fi
command -v taskset >/dev/null 2>&1 || { echo "compare.sh: taskset (util-linux) not found" >&2; exit 2; }
[ -x "$bin" ] || { echo "compare.sh: $bin is not an executable wsbench binary" >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "compare.sh: needs 2 CPUs (server on core 0, load on core 1)" >&2; exit 2; }
bin=$(realpath "$bin")
mkdir -p "$out"
out=$(realpath "$out")
tck=$(getconf CLK_TCK)

# the server, pinned to core 0; its first line names the address
taskset -c 0 "$bin" serve "$target" --bind 127.0.0.1:0 --database "$database" >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 1 100); do
  addr=$(sed -n 's/^listening on //p' "$out/server.log" | head -n1)
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "compare.sh: the server did not say where it listens" >&2; exit 1; }
url="http://$addr/api/dashboard"

# the server's CPU time so far, in clock ticks (utime + stime, fields 14 and 15)
server_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }

# --- wrk ------------------------------------------------------------------------------
echo "wrk: $connections connections, ${seconds} s, against $url" >&2
s0=$(server_ticks)
TIMEFORMAT='%U %S'
{ time taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" "$url" >"$out/wrk.txt"; } 2>"$out/wrk.time"
s1=$(server_ticks)
wrk_requests=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$out/wrk.txt")
wrk_cpu=$(tail -n1 "$out/wrk.time" | awk '{print $1 + $2}')
wrk_server_cpu=$(awk -v a="$s0" -v b="$s1" -v t="$tck" 'BEGIN {print (b - a) / t}')
[ -n "$wrk_requests" ] || { echo "compare.sh: no request count in wrk's output" >&2; cat "$out/wrk.txt" >&2; exit 1; }

# --- wsbench's poller -------------------------------------------------------------------
# every viewer polls every 0.1 ms: more than any one keep-alive connection can answer,
# so each viewer is always waiting for its previous GET (ticks it misses are skipped)
cat >"$out/poller.toml" <<EOF
name = "poller"
description = "wsbench's HTTP poller at full speed (scripts/wrk/compare.sh)"
workload = "polling-vs-push"
targets = ["ws=ws://$addr/ws"]
clients = $connections

[polling]
poll_interval_ms = 0.1
update_rate = 1
variants = ["poll"]

[phases]
warmup_s = 1
measure_s = $seconds
drain_s = 0.5
EOF
echo "wsbench: $connections viewers, ${seconds} s, against $url" >&2
rm -rf "$out/wsbench"
s0=$(server_ticks)
taskset -c 1 "$bin" run "$out/poller.toml" --out "$out/wsbench" >"$out/wsbench.log" 2>&1 || {
  echo "compare.sh: wsbench run failed (exit $?); see $out/wsbench.log" >&2
  exit 1
}
s1=$(server_ticks)
csv="$out/wsbench/summary.csv"
col() { awk -F, -v name="$1" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i} NR == 2 {print $c}' "$csv"; }
ws_requests=$(col http_requests)
ws_cpu=$(col loadgen_cpu_s)
ws_window=$(col measure_s)
# the server's CPU over the whole run (setup and drain included) is an upper bound; per
# request it is divided by the measured requests, so it is only indicative
ws_server_cpu=$(awk -v a="$s0" -v b="$s1" -v t="$tck" 'BEGIN {print (b - a) / t}')

{
  printf 'GET /api/dashboard on %s (%s), %s connections, %s s each; load on core 1, server on core 0\n\n' \
    "$target" "$database" "$connections" "$seconds"
  printf '%-16s %12s %10s %14s %18s %16s\n' tool requests cpu_s requests/s "requests/CPU-s" "server µs/req"
  awk -v r="$wrk_requests" -v c="$wrk_cpu" -v w="$seconds" -v s="$wrk_server_cpu" \
    'BEGIN {printf "%-16s %12d %10.2f %14.0f %18.0f %16.1f\n", "wrk", r, c, r / w, r / c, s * 1e6 / r}'
  awk -v r="$ws_requests" -v c="$ws_cpu" -v w="$ws_window" -v s="$ws_server_cpu" \
    'BEGIN {printf "%-16s %12d %10.2f %14.0f %18.0f %16.1f\n", "wsbench poll", r, c, r / w, r / c, s * 1e6 / r}'
  awk -v a="$ws_requests" -v ac="$ws_cpu" -v b="$wrk_requests" -v bc="$wrk_cpu" \
    'BEGIN {printf "\nwsbench / wrk, requests per CPU-second: %.2f\n", (a / ac) / (b / bc)}'
  printf '(wsbench counts the server'"'"'s http_requests in its measure window and its own CPU there,\n'
  printf ' less its send timer'"'"'s spin-wait; wrk counts its own requests and CPU over the whole run)\n'
} | tee "$out/compare.txt"
