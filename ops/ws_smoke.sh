#!/usr/bin/env bash
# The operators' smoke test for a Switchboard deployment (direct or through nginx):
#   ops/ws_smoke.sh [base-url] [--quick] [--timeout S]
# base-url: ws://, wss://, http:// or https:// (default ws://127.0.0.1:8000).
# Checks GET /health, the /ws/echo round trip, the /ws/health welcome and first heartbeat,
# /ws ping/pong and a clean 1000 close; one line per check with ✓/✗ and timing, progress
# while the heartbeat is awaited (a whole ping_interval, 30 s by default); --quick skips that
# check. Exits 0 only when every check that ran passed, 1 naming the failed checks, 2 on bad
# usage. Needs no terminal and no stdin: safe under cron and CI (</dev/null).
#
# Client: websocat if installed, else wscat, else the project's Node CLI (npm run smoke, or
# dist/src/cli/smoke.js in the image). SMOKE_CLIENT=node|websocat|wscat forces one (wscat is
# also found in node_modules/.bin). The Node CLI is the most exact (it sees the server's close
# code); websocat and wscat close with 1000 themselves and can only show that the server let
# them go cleanly.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

base=""
timeout_s=60
quick=false
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s="${2:-}"; shift 2 ;;
    --timeout=*) timeout_s="${1#*=}"; shift ;;
    --quick) quick=true; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
    --origin) shift 2 ;; # the Node CLI's; websocat and wscat send no Origin
    -*) shift ;;
    *) [ -z "$base" ] && base="$1"; shift ;;
  esac
done
base="${base:-ws://127.0.0.1:8000}"
if ! [[ "$timeout_s" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "ws_smoke: --timeout must be a number of seconds, got '$timeout_s'" >&2
  exit 2
fi

client="${SMOKE_CLIENT:-}"
if [ -z "$client" ]; then
  if command -v websocat >/dev/null 2>&1; then client=websocat
  elif command -v wscat >/dev/null 2>&1; then client=wscat
  else client=node
  fi
fi
case "$client" in
  node|websocat|wscat) ;;
  *) echo "ws_smoke: SMOKE_CLIENT must be node, websocat or wscat, got '$client'" >&2; exit 2 ;;
esac
# The tool's command: on PATH, or wscat from this checkout's devDependencies.
tool="$client"
if [ "$client" = wscat ] && ! command -v wscat >/dev/null 2>&1 && [ -x "$root/node_modules/.bin/wscat" ]; then
  tool="$root/node_modules/.bin/wscat"
fi
if [ "$client" != node ] && ! command -v "$tool" >/dev/null 2>&1; then
  echo "ws_smoke: SMOKE_CLIENT=$client but $client is not installed" >&2
  exit 2
fi

if [ "$client" = node ]; then
  if [ -x "$root/node_modules/.bin/tsx" ] && [ -f "$root/src/cli/smoke.ts" ]; then
    cd "$root" && exec npm run --silent smoke -- ${args[@]+"${args[@]}"}
  elif [ -f "$root/dist/src/cli/smoke.js" ]; then
    exec node "$root/dist/src/cli/smoke.js" ${args[@]+"${args[@]}"}
  fi
  echo "ws_smoke: no WebSocket client: install websocat or wscat, or run from a checkout with npm install" >&2
  exit 2
fi

# --- websocat / wscat: the same checks, read from the frames each tool prints one per line.
case "$base" in
  ws://*|http://*) scheme_ws=ws; scheme_http=http ;;
  wss://*|https://*) scheme_ws=wss; scheme_http=https ;;
  *) echo "ws_smoke: unsupported URL '$base' (ws://, wss://, http:// or https://)" >&2; exit 2 ;;
esac
rest="${base#*://}"
rest="${rest%/}"
ws_base="$scheme_ws://$rest"
http_base="$scheme_http://$rest"

now_ms() { date +%s%3N; }
failed=()
total=0
report() { # ok|fail name detail started_ms
  local ms=$(( $(now_ms) - $4 ))
  total=$((total + 1))
  if [ "$1" = ok ]; then printf '✓ %-22s %s (%d ms)\n' "$2" "$3" "$ms"
  else printf '✗ %-22s %s (%d ms)\n' "$2" "$3" "$ms"; failed+=("$2")
  fi
}

# exchange PATH MESSAGE WAIT_S: connect, send MESSAGE, print every frame (and the tool's error
# message, if any) for WAIT_S seconds, close. Exit status is the tool's.
exchange() {
  local url="$ws_base$1" msg="$2" wait_s="$3"
  # A hung tool must not hang the smoke test: cap it where coreutils' timeout exists.
  local cap=()
  command -v timeout >/dev/null 2>&1 && cap=(timeout "$(awk -v w="$wait_s" 'BEGIN { printf "%d", w + 10 }')")
  if [ "$client" = websocat ]; then
    { printf '%s\n' "$msg"; sleep "$wait_s"; } | ${cap[@]+"${cap[@]}"} "$tool" --text "$url" 2>&1
  else
    # wscat quits as soon as its stdin ends (it reads commands from it even with --execute):
    # under cron, CI or `</dev/null` that is at once, before anything arrives. Its stdin is
    # kept open for longer than --wait; --wait closes the socket, and then wscat exits.
    local stdin sleeper status
    exec {stdin}< <(exec sleep "$(awk -v w="$wait_s" 'BEGIN { printf "%d", w + 5 }')" 2>/dev/null)
    sleeper=$!
    ${cap[@]+"${cap[@]}"} "$tool" --connect "$url" --execute "$msg" --wait "$wait_s" 2>&1 <&"$stdin"
    status=$?
    exec {stdin}<&-
    kill "$sleeper" 2>/dev/null
    return "$status"
  fi
}

# progress WAIT_S: while the heartbeat is awaited, say so, then how long it has been: every
# second on one rewritten line in a terminal, a line every 5 s otherwise (logs, CI). Runs in
# the background; the caller kills it.
progress() {
  local waited=0 step=5
  [ -t 1 ] && step=1
  printf '  … /ws/health: waiting up to %s s for the first heartbeat (ping_interval %s s; --quick skips this)\n' "$1" "$interval"
  while sleep "$step" >/dev/null 2>&1; do
    waited=$((waited + step))
    if [ -t 1 ]; then printf '\r  … %d s of %s s' "$waited" "$1"
    else printf '  … %d s of %s s\n' "$waited" "$1"
    fi
  done
}

echo "ws_smoke: $ws_base (client: $client)"

t0=$(now_ms)
if command -v curl >/dev/null 2>&1; then
  body=$(curl -sS -m 10 -w '\n%{http_code}' "$http_base/health" 2>&1)
  code="${body##*$'\n'}"; body="${body%$'\n'*}"
  body="${body//$'\n'/ }"
  body="${body%"${body##*[![:space:]]}"}"
  if [ "$code" = 200 ] && [[ "$body" == *'"status":"ok"'* ]]; then report ok "GET /health" "200 ok" "$t0"
  elif [ "$code" = 000 ] || [ -z "$code" ]; then report fail "GET /health" "no answer: ${body:0:160}" "$t0"
  else report fail "GET /health" "HTTP $code: ${body:0:120}" "$t0"
  fi
else
  report fail "GET /health" "curl is not installed" "$t0"
fi

t0=$(now_ms)
nonce="smoke-$t0"
out=$(exchange /ws/echo "{\"type\":\"smoke\",\"nonce\":\"$nonce\"}" 2)
if ! grep -q '"type":"welcome"' <<<"$out"; then report fail "/ws/echo round trip" "no welcome${out:+: ${out:0:120}}" "$t0"
elif grep '"type":"echo"' <<<"$out" | grep -q "\"nonce\":\"$nonce\""; then report ok "/ws/echo round trip" "welcome, echo" "$t0"
else report fail "/ws/echo round trip" "no echo of the sent message" "$t0"
fi

t0=$(now_ms)
out=$(exchange /ws/health '{"type":"get_status"}' 1)
interval=$(grep -m1 '"status":"connected"' <<<"$out" | sed -n 's/.*"ping_interval":\([0-9.]*\).*/\1/p')
if [ -n "$interval" ]; then report ok "/ws/health welcome" "connected, ping_interval $interval s" "$t0"
else report fail "/ws/health welcome" "no health_status welcome${out:+: ${out:0:120}}" "$t0"
fi

t0=$(now_ms)
skipped=0
if [ "$quick" = true ]; then
  printf -- '- %-22s %s\n' "/ws/health heartbeat" "skipped (--quick)"
  skipped=1
elif [ -z "$interval" ]; then
  report fail "/ws/health heartbeat" "not attempted: no welcome" "$t0"
else
  wait_s=$(awk -v i="$interval" -v t="$timeout_s" 'BEGIN { w = i * 1.1 + 2; if (w > t) w = t; printf "%.1f", w }')
  progress "$wait_s" &
  ticker=$!
  out=$(exchange /ws/health '{"type":"get_status"}' "$wait_s")
  kill "$ticker" 2>/dev/null
  wait "$ticker" 2>/dev/null
  [ -t 1 ] && printf '\r\033[2K'
  if grep -q '"type":"heartbeat"' <<<"$out"; then report ok "/ws/health heartbeat" "heartbeat within $wait_s s (ping_interval $interval s)" "$t0"
  else report fail "/ws/health heartbeat" "no heartbeat within $wait_s s (ping_interval $interval s, --timeout $timeout_s)" "$t0"
  fi
fi

t0=$(now_ms)
out=$(exchange /ws '{"type":"ping"}' 1)
status=$?
pong=false
grep -q '"type":"pong"' <<<"$out" && pong=true
if [ "$pong" = true ]; then report ok "/ws ping/pong" "pong" "$t0"
else report fail "/ws ping/pong" "no pong${out:+: ${out:0:120}}" "$t0"
fi

# The tool's exit status alone proves nothing: wscat exits 0 when its stdin ends, connected or
# not. A clean close counts only after a socket that really answered.
t0=$(now_ms)
if [ "$pong" != true ]; then report fail "clean close 1000" "not attempted: /ws never answered" "$t0"
elif [ "$status" -eq 0 ]; then report ok "clean close 1000" "$client closed with 1000 and exited 0" "$t0"
else report fail "clean close 1000" "$client exited $status" "$t0"
fi

if [ ${#failed[@]} -gt 0 ]; then
  joined=$(printf ', %s' "${failed[@]}")
  echo "smoke: FAILED ${#failed[@]} of $total checks: ${joined:2}"
  exit 1
fi
if [ "$total" -eq 0 ]; then
  echo "smoke: FAILED: no check ran" # never a pass for nothing
  exit 1
fi
echo "smoke: all $total checks passed$([ "$skipped" -eq 1 ] && printf ' (heartbeat skipped: --quick)')"
