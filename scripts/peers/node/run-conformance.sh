#!/usr/bin/env bash
# Runs the conformance driver (conformance.test.js) against one server.
#
#   run-conformance.sh --protocol raw|sio [--transports websocket,polling] [--no-rest]
#                      [--driver conformance.test.js|features.test.js] -- CMD…
#
# CMD starts the server and must print `listening on IP:PORT` as its first stdout line,
# e.g. `node scripts/peers/node/ws-server.js --bind 127.0.0.1:0` or
# `target/debug/wsbench serve ws-tungstenite --bind 127.0.0.1:0`. The script installs the
# locked Node packages if needed (npm ci), starts CMD, runs the driver once (raw) or once
# per Socket.IO transport, stops the server with SIGTERM, and exits non-zero if any check
# failed, the server did not start, or it did not exit cleanly. The driver also gets
# WSBENCH_PROTOCOL and WSBENCH_ADDR; features.test.js reads the features the server was
# started with from WSBENCH_JWT_SECRET, WSBENCH_CORS_ORIGIN and WSBENCH_RATE_LIMIT, which the
# caller sets to match CMD's flags.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
protocol=""
transports="websocket,polling"
rest=1
driver="conformance.test.js"
usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --protocol) protocol="${2:-}"; shift 2 ;;
    --transports) transports="${2:-}"; shift 2 ;;
    --no-rest) rest=0; shift ;;
    --driver) driver="${2:-}"; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[[ "$protocol" == raw || "$protocol" == sio ]] || usage
[[ $# -gt 0 ]] || usage
[[ -f "$here/$driver" ]] || usage

# Install the locked packages when node_modules is missing or older than the lockfile.
if [[ ! -d "$here/node_modules" || "$here/package-lock.json" -nt "$here/node_modules" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund >&2)
  touch "$here/node_modules"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The server's stdout goes through a FIFO: read its first line, then forward the rest.
mkfifo "$work/stdout"
"$@" >"$work/stdout" &
server_pid=$!
exec 3<"$work/stdout"
if ! IFS= read -r -t 30 -u 3 line; then
  echo "run-conformance: the server printed no line within 30 s: $*" >&2
  exit 1
fi
if [[ ! "$line" =~ ^listening\ on\ (.+):([0-9]+)$ ]]; then
  echo "run-conformance: first stdout line is not 'listening on IP:PORT': $line" >&2
  exit 1
fi
addr="${BASH_REMATCH[1]}:${BASH_REMATCH[2]}"
cat <&3 >&2 &
echo "run-conformance: server $* is listening on $addr" >&2

status=0
run_driver() {
  (cd "$here" && env WSBENCH_PROTOCOL="$protocol" WSBENCH_ADDR="$addr" "$@" \
    node --test --test-timeout=120000 --test-reporter=spec "$driver") || status=1
}
rest_env=()
if [[ $rest -eq 1 ]]; then rest_env=("WSBENCH_HTTP_URL=http://$addr"); fi
if [[ "$protocol" == raw ]]; then
  run_driver "WSBENCH_RAW_URL=ws://$addr/ws" "${rest_env[@]}"
else
  IFS=, read -r -a list <<<"$transports"
  for t in "${list[@]}"; do
    echo "run-conformance: Socket.IO transport $t" >&2
    run_driver "WSBENCH_SIO_URL=http://$addr" "WSBENCH_SIO_TRANSPORTS=$t" "${rest_env[@]}"
    rest_env=() # the REST checks need only run once per server
  done
fi

# Stop the server and require a clean exit (bounded: SIGKILL after 10 s).
kill -TERM "$server_pid"
for _ in $(seq 100); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  echo "run-conformance: the server did not exit within 10 s of SIGTERM" >&2
  status=1
else
  set +e
  wait "$server_pid"
  code=$?
  set -e
  server_pid=""
  if [[ $code -ne 0 ]]; then
    echo "run-conformance: the server exited with code $code after SIGTERM" >&2
    status=1
  fi
fi
if [[ $status -eq 0 ]]; then echo "run-conformance: PASS ($*)" >&2; else echo "run-conformance: FAIL ($*)" >&2; fi
exit $status
