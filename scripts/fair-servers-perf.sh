#!/usr/bin/env bash
# Profiles the write path of every Rust target: starts `wsbench serve TARGET` pinned to
# core 0, attaches `perf stat` (CPU time, context switches, write/writev/sendto syscalls),
# drives it by URL with `wsbench run` (ping-pong, 50 clients; broadcast to 1,000 clients
# at 50 msgs/s) from core 1, and prints the server's syscalls and CPU per delivery.
# With PERF_RECORD=1 it also samples the server (`perf record -g`, data in
# PERF_DATA_DIR, default /tmp) and writes its top symbols next to the counts.
#
#   scripts/fair-servers-perf.sh WSBENCH_BINARY OUT_DIR
#
# Needs perf with tracepoint access (root). docs/results.md, "Fair servers: write
# batching", quotes its output.
set -euo pipefail

bin=${1:?usage: fair-servers-perf.sh WSBENCH_BINARY OUT_DIR}
out=${2:?usage: fair-servers-perf.sh WSBENCH_BINARY OUT_DIR}
mkdir -p "$out"
bin=$(realpath "$bin")

cat >"$out/pingpong.toml" <<'EOF'
name = "perf-pingpong"
workload = "echo"
targets = ["tcp"]
mode = "closed"
payload_bytes = 64
clients = 50
[phases]
warmup_s = 1
measure_s = 5
drain_s = 1
EOF
cat >"$out/broadcast.toml" <<'EOF'
name = "perf-broadcast"
workload = "broadcast"
targets = ["tcp"]
op = "to_all"
publishers = 1
clients = 1000
rate = 50
payload_bytes = 64
[phases]
warmup_s = 1
measure_s = 3
drain_s = 1
EOF

events=task-clock,context-switches,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg

for scenario in pingpong broadcast; do
  for target in tcp ws-tungstenite ws-fastwebsockets sio-socketioxide; do
    tag="$scenario-$target"
    : >"$out/$tag.serve.log"
    taskset -c 0 "$bin" serve "$target" >"$out/$tag.serve.log" 2>&1 &
    server=$!
    addr=""
    for _ in $(seq 100); do
      addr=$(sed -n 's/^listening on //p' "$out/$tag.serve.log")
      [ -n "$addr" ] && break
      sleep 0.1
    done
    [ -n "$addr" ] || { echo "$target did not start" >&2; kill "$server"; exit 1; }
    case $target in
      tcp) spec="tcp=$addr" ;;
      ws-*) spec="ws=ws://$addr/ws" ;;
      sio-*) spec="sio=http://$addr" ;;
    esac
    perf stat -e "$events" -p "$server" -o "$out/$tag.perf-stat.txt" &
    stat=$!
    record=""
    if [ "${PERF_RECORD:-0}" = 1 ]; then
      perf record -F 999 -g -p "$server" -o "${PERF_DATA_DIR:-/tmp}/$tag.perf.data" >/dev/null 2>&1 &
      record=$!
    fi
    sleep 0.2
    taskset -c 1 "$bin" run "$out/$scenario.toml" --targets "$spec" --out "$out/$tag.run" \
      --no-progress >"$out/$tag.run.log" 2>&1
    kill -INT "$stat"; wait "$stat" || true
    if [ -n "$record" ]; then kill -INT "$record"; wait "$record" || true; fi
    kill -TERM "$server"; wait "$server" || true
    delivered=$(python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(sum(int(x['delivered']) for x in r))" "$out/$tag.run/summary.csv")
    python3 - "$out/$tag.perf-stat.txt" "$delivered" "$tag" <<'EOF'
import re, sys
path, delivered, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
vals = {}
for line in open(path):
    m = re.match(r"\s*([\d,.]+)\s+(?:msec\s+)?(\S+)", line)
    if m:
        vals[m.group(2)] = float(m.group(1).replace(",", ""))
writes = sum(vals.get(f"syscalls:sys_enter_{s}", 0) for s in ("write", "writev", "sendto", "sendmsg"))
cpu_ms = vals.get("task-clock", 0)
print(f"{tag}: delivered {delivered}, server write syscalls {writes:.0f} "
      f"({writes / max(delivered, 1):.3f}/delivery), server CPU {cpu_ms:.0f} ms "
      f"({cpu_ms * 1000 / max(delivered, 1):.2f} us/delivery), "
      f"context switches {vals.get('context-switches', 0):.0f}")
EOF
    if [ -n "$record" ]; then
      perf report -i "${PERF_DATA_DIR:-/tmp}/$tag.perf.data" --no-children --sort symbol --stdio 2>/dev/null \
        | grep -E '^ +[0-9]' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -15 >"$out/$tag.perf-top.txt" || true
    fi
  done
done
