#!/usr/bin/env bash
# How fast the projections drain a backlog into MariaDB: a sale of N units to N buyers runs with the consumers
# off (SECKILL_CONSUMERS=false), so N SeckillReserved wait in a fresh topic; then `seckill consume` starts with
# the throttle off (DRAIN_THROTTLE=R: R events/s, as SECKILL_CONSUMER_THROTTLE) and the time until MySQL holds all
# N orders is measured, with the CPU `seckill consume` spent per projected event. Needs `make services`.
# Usage: [DRAIN_THROTTLE=R] scripts/drain-bench.sh [N]   (default 10000)
# DRAIN_PPROF_ADDR=host:port takes a CPU profile of `seckill consume` into .run/bench/drain-cpu.prof, DRAIN_PPROF_SECONDS
# long (3) from DRAIN_PPROF_DELAY seconds (1) after its start. DRAIN_BIN=path runs that seckill binary instead of
# building bin/seckill (to compare two builds side by side).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=${1:-10000}
RUN=$ROOT/.run/bench
mkdir -p "$RUN"
BIN=${DRAIN_BIN:-bin/seckill}
[[ -n ${DRAIN_BIN:-} ]] || go build -o bin/seckill ./cmd/seckill
suffix=$(date +%s)
DB=seckill_drain_$suffix
mysql -h127.0.0.1 -useckill -pseckill -e "CREATE DATABASE $DB"
export SECKILL_MYSQL_DSN="seckill:seckill@tcp(127.0.0.1:3306)/$DB?parseTime=true"
export SECKILL_TOPIC=drain-$suffix SECKILL_CONSUMER_GROUP=drain-$suffix SECKILL_ADMIN_TOKEN=drain-token
export SECKILL_BUYER_JWT_SECRET=drain-buyer-jwt-secret-of-32-bytes-or-more
export SECKILL_RATE_PER_USER=0 SECKILL_CONSUMER_THROTTLE=${DRAIN_THROTTLE:-0} SECKILL_LOG_LEVEL=warn SECKILL_HTTP_ADDR=127.0.0.1:18090
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  mysql -h127.0.0.1 -useckill -pseckill -e "DROP DATABASE IF EXISTS $DB"; }
trap cleanup EXIT

SECKILL_CONSUMERS=false "$BIN" serve >"$RUN/drain-serve.log" 2>&1 & pids+=($!)
for _ in $(seq 150); do curl -sf http://127.0.0.1:18090/readyz >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN" bench -no-drain -dup 0 -buyers "$N" -stock "$N" -c 64 -url http://127.0.0.1:18090 >"$RUN/drain-sale.txt"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()
echo "sale done: $N reservations wait in topic $SECKILL_TOPIC" >&2

start=$(date +%s.%N)
SECKILL_HTTP_ADDR=127.0.0.1:18091 SECKILL_PPROF_ADDR=${DRAIN_PPROF_ADDR:-} "$BIN" consume >"$RUN/drain-consume.log" 2>&1 & pids+=($!)
consume=$!
[[ -n ${DRAIN_PPROF_ADDR:-} ]] && (sleep "${DRAIN_PPROF_DELAY:-1}"
  curl -s -o "$RUN/drain-cpu.prof" "http://$DRAIN_PPROF_ADDR/debug/pprof/profile?seconds=${DRAIN_PPROF_SECONDS:-3}") &
while :; do
  n=$(mysql -h127.0.0.1 -useckill -pseckill -N -e "SELECT COUNT(*) FROM $DB.tb_seckill_order")
  [[ $n -ge $N ]] && break
  sleep 0.1
done
end=$(date +%s.%N)
ticks=$(awk '{print $14+$15}' "/proc/$consume/stat")
span=$(mysql -h127.0.0.1 -useckill -pseckill -N -e "SELECT TIMESTAMPDIFF(MICROSECOND, MIN(recorded_at), MAX(recorded_at))/1e6
  FROM $DB.tb_event WHERE event_type = 'SeckillReserved'")
python3 -c "s=$end-$start; a=$span; print('drained %d reservations into MySQL (throttle ${DRAIN_THROTTLE:-off}): %.2fs from the first to the last recorded (%.0f events/s); %.2fs including the consumer start; consume CPU %.0f µs per event' % ($N, a, $N/a, s, $ticks * 1e6 / $(getconf CLK_TCK) / $N))"
