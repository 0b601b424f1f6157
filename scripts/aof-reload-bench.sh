#!/usr/bin/env bash
# Measures how long Redis takes to come back on its AOF after a sale of N reservations (default 1,000,000), with
# the AOF settings of scripts/services.sh and, for comparison, with rewrites effectively off. It starts its OWN
# redis-server on a spare port (AOF_BENCH_PORT, default 6390) in a temporary directory, never the shared one.
# Each reservation makes the writes reserve.lua makes (DECRBY, INCR, two HSETs, XADD) and the fast path's XDEL.
# Usage: scripts/aof-reload-bench.sh [N]
set -euo pipefail

N=${1:-1000000}
PORT=${AOF_BENCH_PORT:-6390}
BATCH=10000
cli() { redis-cli -p "$PORT" "$@"; }
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && { echo "port $PORT is in use; set AOF_BENCH_PORT" >&2; exit 1; }

# The settings scripts/services.sh starts Redis with (keep in step).
SERVICES_AOF=(--auto-aof-rewrite-percentage 50 --auto-aof-rewrite-min-size 64mb --aof-use-rdb-preamble yes)
# Before: the first rewrite only at 512 MB, so a sale's whole history is replayed command by command.
NO_REWRITE=(--auto-aof-rewrite-percentage 100 --auto-aof-rewrite-min-size 512mb --aof-use-rdb-preamble yes)

LOAD='
local n = tonumber(ARGV[1])
local first = tonumber(ARGV[2])
for u = first, first + n - 1 do
  local user = tostring(u)
  local after = redis.call("DECRBY", KEYS[1], 1)
  local orderNo = string.format("SK1-%08d", redis.call("INCR", KEYS[4]))
  redis.call("HSET", KEYS[2], user, orderNo)
  redis.call("HSET", KEYS[3], orderNo, "0|" .. user .. "|1")
  local id = redis.call("XADD", KEYS[5], "*", "type", "SeckillReserved", "id", "6f1c2a0e-3b7d-4c1e-9a55-" .. string.format("%012d", u),
    "order", orderNo, "user", user, "product", "1", "qty", "1", "before", tostring(after + 1), "after", tostring(after),
    "at", "1796236912000", "name", "iPhone 15 Pro", "price", "699900")
  redis.call("XDEL", KEYS[5], id)
end
return n'

wait_pong() { # seconds until PING answers PONG (not LOADING), printed with ms precision
  local start; start=$(date +%s.%N)
  until [[ $(cli ping 2>/dev/null) == PONG ]]; do sleep 0.05; done
  echo "$(date +%s.%N) - $start" | bc
}

run() { # run LABEL SETTINGS...
  local label=$1; shift
  local dir; dir=$(mktemp -d /tmp/seckill-aof-bench.XXXXXX)
  local args=(--port "$PORT" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync everysec --save "" "$@")
  redis-server "${args[@]}" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  wait_pong >/dev/null
  cli set 'seckill:{1}:stock' "$N" >/dev/null
  local start=$SECONDS
  for ((first = 1; first <= N; first += BATCH)); do
    cli eval "$LOAD" 5 'seckill:{1}:stock' 'seckill:{1}:buyers' 'seckill:{1}:orders' 'seckill:{1}:seq' 'seckill:{1}:outbox' \
      $((N - first + 1 < BATCH ? N - first + 1 : BATCH)) "$first" >/dev/null
  done
  local loadsecs=$((SECONDS - start))
  while [[ $(cli info persistence | tr -d '\r' | grep -E '^aof_rewrite_in_progress:' | cut -d: -f2) == 1 ]]; do sleep 0.2; done
  sleep 1 # appendfsync everysec: the last second reaches the file
  local rewrites size
  rewrites=$(cli info persistence | tr -d '\r' | grep '^aof_rewrites:' | cut -d: -f2)
  size=$(du -sh "$dir/appendonlydir" | cut -f1)
  kill -9 "$(cat "$dir/redis.pid")"
  while cli ping >/dev/null 2>&1; do sleep 0.05; done
  redis-server "${args[@]}" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  local reload; reload=$(wait_pong)
  printf '%-28s %9d reservations loaded in %3ds, %2s AOF rewrites, AOF %6s, reload after kill -9: %.1fs (buyers: %s)\n' \
    "$label" "$N" "$loadsecs" "$rewrites" "$size" "$reload" "$(cli hlen 'seckill:{1}:buyers')"
  cli shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$dir"
}

run "services.sh settings" "${SERVICES_AOF[@]}"
run "first rewrite at 512mb" "${NO_REWRITE[@]}"
