#!/usr/bin/env bash
# make bench: three measurements in one run on this machine, printed side by side with ratios:
#   1. the ceiling of a bare Go net/http handler answering a fixed JSON body (tools/bareserver), driven by
#      `seckill bench -bare` with the same connections as (3);
#   2. the ceiling of Redis running the reservation script alone (redis-benchmark EVALSHA of schema/redis/reserve.lua);
#   3. `seckill bench` against the real stack (seckill serve + Redis + RocketMQ + MariaDB), then again open loop
#      at half of its saturation rate, for the p99 there: half of the whole run's rate (3b), and half of the
#      rate while stock lasted (3c: the reservation phase, where every answer costs a Redis script);
#   4. the cost of buyer token verification: the closed loop of (3) again against a server in trusted mode
#      (SECKILL_BUYER_AUTH=trusted, no verification) and in jwt mode, BENCH_AUTH_ROUNDS times, so the modes
#      alternate jwt (3), trusted, jwt, trusted, jwt; the bench sends the same minted tokens to both.
# Needs `make services` first. Knobs: BENCH_CONNS (64), BENCH_BUYERS (60000), BENCH_STOCK (20000),
# BENCH_AUTH_ROUNDS (2).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUN=$ROOT/.run/bench
mkdir -p "$RUN"
C=${BENCH_CONNS:-64}
BUYERS=${BENCH_BUYERS:-60000}
STOCK=${BENCH_STOCK:-20000}
ROUNDS=${BENCH_AUTH_ROUNDS:-2}
BARE_PORT=18081
APP_PORT=18080
TOKEN=bench-admin-token
export SECKILL_BUYER_JWT_SECRET=bench-buyer-jwt-secret-of-32-bytes-or-more

go build -o bin/seckill ./cmd/seckill
go build -o .cache/bin/bareserver ./tools/bareserver
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "== 1/4 bare net/http ceiling ($C connections)" >&2
.cache/bin/bareserver -addr 127.0.0.1:$BARE_PORT & pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$BARE_PORT) 2>/dev/null && break; sleep 0.1; done
bin/seckill bench -bare -json -c "$C" -n "$BUYERS" -url "http://127.0.0.1:$BARE_PORT/seckill/kill" >"$RUN/bare.json"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

echo "== 2/4 redis EVALSHA reserve.lua ceiling (redis-benchmark, 50 clients)" >&2
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

# start_serve MODE: seckill serve with SECKILL_BUYER_AUTH=MODE (jwt or trusted), ready on APP_PORT.
start_serve() {
  SECKILL_BUYER_AUTH=$1 SECKILL_HTTP_ADDR=127.0.0.1:$APP_PORT SECKILL_ADMIN_TOKEN=$TOKEN SECKILL_RATE_PER_USER=0 \
    SECKILL_LOG_LEVEL=warn bin/seckill serve >"$RUN/serve-$1.log" 2>&1 & pids=($!)
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$APP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  if ! kill -0 "${pids[0]}" 2>/dev/null || ! curl -sf "http://127.0.0.1:$APP_PORT/readyz" >/dev/null; then
    tail -20 "$RUN/serve-$1.log" >&2; echo "seckill serve ($1) did not get ready on port $APP_PORT" >&2; exit 1
  fi
}
stop_serve() { cleanup; pids=(); }

echo "== 3/4 seckill bench against the real stack (buyer tokens verified: SECKILL_BUYER_AUTH=jwt)" >&2
start_serve jwt
export SECKILL_ADMIN_TOKEN=$TOKEN
bin/seckill bench -json -c "$C" -buyers "$BUYERS" -stock "$STOCK" -url "http://127.0.0.1:$APP_PORT" >"$RUN/sale.json"
half=$(python3 -c "import json;print(int(json.load(open('$RUN/sale.json'))['rps']/2))")
bin/seckill bench -json -c "$C" -buyers "$BUYERS" -stock "$STOCK" -rate "$half" -url "http://127.0.0.1:$APP_PORT" >"$RUN/sale-half.json"
halfsale=$(python3 -c "import json;print(int(json.load(open('$RUN/sale.json'))['saleRps']/2))")
bin/seckill bench -json -c "$C" -buyers "$BUYERS" -stock "$STOCK" -rate "$halfsale" -url "http://127.0.0.1:$APP_PORT" >"$RUN/sale-halfsale.json"
stop_serve

echo "== 4/4 the same closed loop without token verification (trusted) and with it (jwt), $ROUNDS rounds" >&2
rm -f "$RUN"/auth-*.json
for round in $(seq "$ROUNDS"); do
  for mode in trusted jwt; do
    start_serve "$mode"
    bin/seckill bench -json -c "$C" -buyers "$BUYERS" -stock "$STOCK" -url "http://127.0.0.1:$APP_PORT" >"$RUN/auth-$mode-$round.json"
    stop_serve
  done
done

python3 - "$RUN" "$C" <<'PY'
import csv, glob, json, sys, os
run, conns = sys.argv[1], sys.argv[2]
bare = json.load(open(os.path.join(run, "bare.json")))
sale = json.load(open(os.path.join(run, "sale.json")))
half = json.load(open(os.path.join(run, "sale-half.json")))
halfsale = json.load(open(os.path.join(run, "sale-halfsale.json")))
auth = {m: [json.load(open(f)) for f in sorted(glob.glob(os.path.join(run, "auth-%s-*.json" % m)))] for m in ("trusted", "jwt")}
auth["jwt"].insert(0, sale)
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
for mode, runs in auth.items():
    for i, r in enumerate(runs):
        label = "4 closed loop, %s %s" % (mode, "(run 3)" if mode == "jwt" and i == 0 else "#%d" % (i if mode == "jwt" else i + 1))
        print("%-44s %12.0f   %s   sale phase %.0f/s" % (label, r["rps"], lat(r), r.get("saleRps", 0)))
print()
print("seckill / bare net/http ceiling   %5.1f %%" % (100 * sale["rps"] / bare["rps"]))
print("seckill / redis script ceiling    %5.1f %%" % (100 * sale["rps"] / redis_rps))
mean = lambda runs, k: sum(r.get(k, 0) for r in runs) / len(runs)
for k, what in (("rps", "the whole run"), ("saleRps", "while stock lasted")):
    j, t = mean(auth["jwt"], k), mean(auth["trusted"], k)
    print("token verification cost, %-19s %5.1f %%  (jwt %.0f req/s, mean of %d runs; trusted %.0f req/s, mean of %d)"
          % (what, 100 * (1 - j / t) if t else 0, j, len(auth["jwt"]), t, len(auth["trusted"])))
print("answers  %s; sold out after %.2fs at %.0f req/s" % (sale["codes"], sale.get("soldOutAfterSeconds", 0), sale.get("saleRps", 0)))
verdict = lambda r: "PASS" if r["invariantsOk"] else "FAIL " + "; ".join(r["invariantFailures"])
print("drained into MySQL after %.2fs; invariants %s" % (sale.get("drainedAfterSeconds", 0),
      " / ".join(verdict(r) for r in [sale, half, halfsale] + auth["trusted"] + auth["jwt"][1:])))
PY
