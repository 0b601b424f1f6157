#!/usr/bin/env bash
# make bench: three measurements in one run on this machine, printed side by side with ratios:
#   1. the ceiling of a bare Go net/http handler answering a fixed JSON body (tools/bareserver), driven by
#      `seckill bench -bare` with the same connections as (3);
#   2. the ceiling of Redis running the reservation script alone (redis-benchmark EVALSHA of schema/redis/reserve.lua);
#   3. `seckill bench` against the real stack (seckill serve + Redis + RocketMQ + MariaDB), then again open loop
#      at half of its saturation rate, for the p99 there: half of the whole run's rate (3b), and half of the
#      rate while stock lasted (3c: the reservation phase, where every answer costs a Redis script).
# Needs `make services` first. Knobs: BENCH_CONNS (64), BENCH_BUYERS (60000), BENCH_STOCK (20000).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUN=$ROOT/.run/bench
mkdir -p "$RUN"
C=${BENCH_CONNS:-64}
BUYERS=${BENCH_BUYERS:-60000}
STOCK=${BENCH_STOCK:-20000}
BARE_PORT=18081
APP_PORT=18080
TOKEN=bench-admin-token

go build -o bin/seckill ./cmd/seckill
go build -o .cache/bin/bareserver ./tools/bareserver
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "== 1/3 bare net/http ceiling ($C connections)" >&2
.cache/bin/bareserver -addr 127.0.0.1:$BARE_PORT & pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$BARE_PORT) 2>/dev/null && break; sleep 0.1; done
bin/seckill bench -bare -json -c "$C" -n "$BUYERS" -url "http://127.0.0.1:$BARE_PORT/seckill/kill" >"$RUN/bare.json"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

echo "== 2/3 redis EVALSHA reserve.lua ceiling (redis-benchmark, 50 clients)" >&2
PID=999000001
K="seckill:{$PID}"
redis-cli -p 6379 DEL "$K:stock" "$K:info" "$K:buyers" "$K:orders" "$K:seq" "$K:outbox" >/dev/null
redis-cli -p 6379 HSET "$K:info" name bench price 699900 start 0 end 0 listed 1000000000 >/dev/null
redis-cli -p 6379 SET "$K:stock" 1000000000 >/dev/null
SHA=$(redis-cli -p 6379 SCRIPT LOAD "$(cat schema/redis/reserve.lua)")
redis-benchmark -p 6379 -c 50 -n "$BUYERS" -r 1000000000 --csv \
  EVALSHA "$SHA" 6 "$K:stock" "$K:info" "$K:buyers" "$K:orders" "$K:seq" "$K:outbox" \
  __rand_int__ 1 "$(date +%s%3N)" "ev-__rand_int__" "$PID" >"$RUN/redis.csv"
reserved=$(redis-cli -p 6379 HLEN "$K:buyers")
redis-cli -p 6379 DEL "$K:stock" "$K:info" "$K:buyers" "$K:orders" "$K:seq" "$K:outbox" >/dev/null
echo "   ($reserved of $BUYERS script runs reserved; the rest were random-id repeats)" >&2

echo "== 3/3 seckill bench against the real stack" >&2
SECKILL_HTTP_ADDR=127.0.0.1:$APP_PORT SECKILL_ADMIN_TOKEN=$TOKEN SECKILL_RATE_PER_USER=0 \
  SECKILL_LOG_LEVEL=warn bin/seckill serve >"$RUN/serve.log" 2>&1 & pids+=($!)
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$APP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
if ! kill -0 "${pids[0]}" 2>/dev/null || ! curl -sf "http://127.0.0.1:$APP_PORT/readyz" >/dev/null; then
  tail -20 "$RUN/serve.log" >&2; echo "seckill serve did not get ready on port $APP_PORT" >&2; exit 1
fi
export SECKILL_ADMIN_TOKEN=$TOKEN
bin/seckill bench -json -c "$C" -buyers "$BUYERS" -stock "$STOCK" -url "http://127.0.0.1:$APP_PORT" >"$RUN/sale.json"
half=$(python3 -c "import json;print(int(json.load(open('$RUN/sale.json'))['rps']/2))")
bin/seckill bench -json -c "$C" -buyers "$BUYERS" -stock "$STOCK" -rate "$half" -url "http://127.0.0.1:$APP_PORT" >"$RUN/sale-half.json"
halfsale=$(python3 -c "import json;print(int(json.load(open('$RUN/sale.json'))['saleRps']/2))")
bin/seckill bench -json -c "$C" -buyers "$BUYERS" -stock "$STOCK" -rate "$halfsale" -url "http://127.0.0.1:$APP_PORT" >"$RUN/sale-halfsale.json"

python3 - "$RUN" "$C" <<'PY'
import csv, json, sys, os
run, conns = sys.argv[1], sys.argv[2]
bare = json.load(open(os.path.join(run, "bare.json")))
sale = json.load(open(os.path.join(run, "sale.json")))
half = json.load(open(os.path.join(run, "sale-half.json")))
halfsale = json.load(open(os.path.join(run, "sale-halfsale.json")))
rows = list(csv.reader(open(os.path.join(run, "redis.csv"))))
redis_rps = float(rows[1][1])
def lat(r): return "p50 %.2f  p99 %.2f  p99.9 %.2f" % (r["latencyMs"]["p50"], r["latencyMs"]["p99"], r["latencyMs"]["p999"])
print()
print("%-44s %12s   %s" % ("measurement", "req/s", "latency ms"))
print("%-44s %12.0f   %s" % ("1 bare net/http, fixed JSON (%s conns)" % conns, bare["rps"], lat(bare)))
print("%-44s %12.0f   %s" % ("2 redis EVALSHA reserve.lua (50 clients)", redis_rps, "p50 %s" % rows[1][4] if len(rows[1]) > 4 else ""))
print("%-44s %12.0f   %s" % ("3 seckill bench, closed loop (%s conns)" % conns, sale["rps"], lat(sale)))
print("%-44s %12.0f   %s" % ("3b seckill bench, open loop at %.0f/s" % half["rate"], half["rps"], lat(half)))
print("%-44s %12.0f   %s" % ("3c same, at half the sale-phase rate (%.0f/s)" % halfsale["rate"], halfsale["rps"], lat(halfsale)))
print()
print("seckill / bare net/http ceiling   %5.1f %%" % (100 * sale["rps"] / bare["rps"]))
print("seckill / redis script ceiling    %5.1f %%" % (100 * sale["rps"] / redis_rps))
print("answers  %s; sold out after %.2fs at %.0f req/s" % (sale["codes"], sale.get("soldOutAfterSeconds", 0), sale.get("saleRps", 0)))
verdict = lambda r: "PASS" if r["invariantsOk"] else "FAIL " + "; ".join(r["invariantFailures"])
print("drained into MySQL after %.2fs; invariants %s / %s / %s" % (sale.get("drainedAfterSeconds", 0),
      verdict(sale), verdict(half), verdict(halfsale)))
PY
