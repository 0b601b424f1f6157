#!/usr/bin/env bash
# make bench: the reservation phase of `seckill serve` beside its ceilings, in one run on this machine, printed as
# one table with the ratios of issue 13 (and the token cost of issue 12). Every load comes from the same load
# generator (`seckill bench`, package loadgen) with the same BENCH_CONNS connections.
#   ceilings   bare net/http answering a fixed JSON (tools/bareserver); net/http + one go-redis EVALSHA of
#              reserve.lua per request (tools/scriptserver); the same through go-redis AutoPipeline()
#              (tools/scriptserver -autopipeline). A new buyer per request, 100,000,000 units: every call reserves.
#   reserve    `seckill serve` with its consumers at the default throttle, a new buyer per request on a product
#              of 100,000,000 units, closed loop for BENCH_RESERVE_SECONDS, no drain, jwt mode. It also gives the
#              broker's CPU per published event.
#   pairs      the verdict of the reservation phase against the one-EVALSHA ceiling: BENCH_RESERVE_PAIRS pairs of
#              BENCH_RESERVE_SLICE-second slices, each pair a fresh tools/scriptserver and a fresh serve (consumers
#              on, topics of its own) one after the other, the order alternating from pair to pair, so both see the
#              same moments of a shared, noisy machine; the verdict is the median of the pairs' ratios (a single
#              window of each swung from 0.47 to 1.81 in three runs in a row).
#   token cost two serves side by side, one in jwt mode and one in SECKILL_BUYER_AUTH=trusted (no token
#              verification), both without consumers (SECKILL_CONSUMERS=false: the token is checked on the
#              request path, and consumers draining a backlog beside it only add noise and dilute the cost); the
#              same reservation phase sent to one, then the other, in BENCH_TOKEN_PAIRS pairs of
#              BENCH_TOKEN_SLICE-second slices (the order alternating from pair to pair, after one uncounted slice
#              to each), so both modes see the same moments of a shared, noisy machine; the verdict is the median
#              of the pairs' 1 - jwt/trusted.
#   open loop  half the first jwt run's rate, a new buyer per request, for BENCH_OPEN_SECONDS: latency from
#              each request's scheduled time.
#   sold out   a product listed with 0 units, a new buyer per request, closed loop for BENCH_SOLDOUT_SECONDS.
#   sale       the real sale: BENCH_BUYERS buyers (5 % firing bursts of 5 duplicates) for BENCH_STOCK units,
#              drained into MySQL, the invariants checked.
# Every step also reports the CPU per answer of the server under test and of the whole stack (server, Redis, broker,
# MariaDB; from /proc/PID/stat over the load), and every serve its peak RSS (VmHWM).
# Each serve step gets a fresh server and fresh topics (bench-<run>-<step>), so the backlog a reservation phase
# leaves for the throttled consumers (1,000 events/s) never reaches a later step; MySQL is a database of the
# bench's own (seckill_bench, recreated each run), and every bench product's Redis keys are unlinked at the end.
# Needs `make services` first. Knobs: BENCH_CONNS (64), BENCH_CEILING_SECONDS (8), BENCH_RESERVE_SECONDS (15),
# BENCH_OPEN_SECONDS (10), BENCH_SOLDOUT_SECONDS (8), BENCH_RESERVE_BUYERS (300000: tokens minted per reservation
# run, the cap of its requests), BENCH_RESERVE_PAIRS (5), BENCH_RESERVE_SLICE (6), BENCH_TOKEN_PAIRS (7), BENCH_TOKEN_SLICE (4), BENCH_BUYERS (60000), BENCH_STOCK (20000),
# BENCH_PROFILE (a file: CPU profile of serve during the first reservation phase).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUN=$ROOT/.run/bench
SVC=${SECKILL_RUN_DIR:-$ROOT/.run}
mkdir -p "$RUN"
rm -f "$RUN"/*.json "$RUN"/*.txt "$RUN"/*.err
C=${BENCH_CONNS:-64}
CEIL=${BENCH_CEILING_SECONDS:-8}
RES=${BENCH_RESERVE_SECONDS:-15}
OPEN=${BENCH_OPEN_SECONDS:-10}
SOLD=${BENCH_SOLDOUT_SECONDS:-8}
RESBUYERS=${BENCH_RESERVE_BUYERS:-300000}
PAIRS=${BENCH_TOKEN_PAIRS:-7}
RPAIRS=${BENCH_RESERVE_PAIRS:-5}
RSLICE=${BENCH_RESERVE_SLICE:-6}
SLICE=${BENCH_TOKEN_SLICE:-4}
BUYERS=${BENCH_BUYERS:-60000}
STOCK=${BENCH_STOCK:-20000}
PROFILE=${BENCH_PROFILE:-}
UNITS=100000000
CEIL_PORT=18081
APP_PORT=18080
PPROF_PORT=16060
RUNID=$(date +%s)
export SECKILL_ADMIN_TOKEN=bench-admin-token
export SECKILL_BUYER_JWT_SECRET=bench-buyer-jwt-secret-of-32-bytes-or-more
export SECKILL_MYSQL_DSN='seckill:seckill@tcp(127.0.0.1:3306)/seckill_bench?parseTime=true'

# The broker rewrites its whole topic, group and offset tables every few seconds: thousands of topics left by
# tests make every event dearer, so the report says how many it held (make reset-broker empties its store).
store=$(sed -n 's/^storePathRootDir=//p' "$SVC/broker.conf" 2>/dev/null || true)
TOPICS=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["topicConfigTable"]))' "$store/config/topics.json" 2>/dev/null || echo unknown)
if [[ $TOPICS =~ ^[0-9]+$ ]] && ((TOPICS > 1000)); then
  echo "bench: the broker holds $TOPICS topics; its CPU per event is inflated (make reset-broker empties its store)" >&2
fi

go build -o bin/seckill ./cmd/seckill
go build -o .cache/bin/bareserver ./tools/bareserver
go build -o .cache/bin/scriptserver ./tools/scriptserver
mysql -h127.0.0.1 -P3306 -useckill -pseckill -e 'DROP DATABASE IF EXISTS seckill_bench; CREATE DATABASE seckill_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'

pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
side=   # the second serve of the token-cost step
stop_side() { if [ -n "$side" ]; then kill "$side" 2>/dev/null || true; wait "$side" 2>/dev/null || true; side=; fi; }
# unlist_products: every bench product's Redis keys (the products of this run's JSON reports and the ceilings').
unlist_products() {
  local ids
  ids=$(python3 - "$RUN" <<'PY'
import glob, json, sys
for f in glob.glob(sys.argv[1] + "/*.json"):
    try:
        p = json.load(open(f)).get("productId")
    except ValueError:
        continue
    if p:
        print(p)
PY
)
  for id in $ids; do
    redis-cli -p 6379 SREM seckill:products "$id" >/dev/null
    redis-cli -p 6379 --scan --pattern "seckill:{$id}:*" | xargs -r redis-cli -p 6379 UNLINK >/dev/null
  done
}
trap 'stop; stop_side; unlist_products' EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
ticks() { [ -r "/proc/$1/stat" ] && awk '{print $14+$15}' "/proc/$1/stat" || echo 0; }
bench() { bin/seckill bench -json -c "$C" -url "http://127.0.0.1:$APP_PORT" "$@"; }
published() { curl -sf "http://127.0.0.1:$APP_PORT/metrics" 2>/dev/null | awk '$1 == "seckill_outbox_published_total" {print $2}'; }
# callbuyers: the buyers and the reserve.lua calls of serve so far ("null, null" for a ceiling).
callbuyers() {
  curl -sf "http://127.0.0.1:$APP_PORT/metrics" 2>/dev/null | awk '$1 == "seckill_reserve_call_buyers_sum" {s = $2}
    $1 == "seckill_reserve_call_buyers_count" {c = $2} END {if (c) printf "%s, %s", s, c; else printf "null, null"}'
}
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
# measure STEP ARGS...: runs `bench ARGS` into $RUN/STEP.json and writes $RUN/STEP-cpu.json: the CPU ticks the
# server under test ($pid), the broker, Redis and MariaDB used from the start of the load to the end of the bench,
# the seconds that took, the events serve's outbox published meanwhile (null for a ceiling), and
# $RUN/STEP-rss.txt: the server's peak RSS in KiB.
measure() {
  local step=$1 b r m b0 s0 r0 m0 e0 e1 t0 cb
  shift
  b=$(cat "$SVC/broker.pid" 2>/dev/null || echo 0); r=$(cat "$SVC/redis.pid" 2>/dev/null || echo 0)
  m=$(cat "$SVC/mysql.pid" 2>/dev/null || echo 0)
  bench "$@" >"$RUN/$step.json" 2>"$RUN/$step.err" &
  local bp=$!
  # The window starts with the load, after the bench has listed its product and minted its tokens.
  for _ in $(seq 1200); do grep -qs 'load starts' "$RUN/$step.err" && break; kill -0 "$bp" 2>/dev/null || break; sleep 0.05; done
  b0=$(ticks "$b"); s0=$(ticks "$pid"); r0=$(ticks "$r"); m0=$(ticks "$m"); e0=$(published || true); t0=$(date +%s%N)
  wait "$bp" || { cat "$RUN/$step.err" >&2; return 1; }
  e1=$(published || true)
  cb=$(callbuyers || true)
  grep -v 'load starts' "$RUN/$step.err" >&2 || true
  printf '{"published": [%s, %s], "callBuyers": [%s], "seconds": %s, "broker": %s, "server": %s, "redis": %s, "mysql": %s, "hz": %s}\n' \
    "${e0:-null}" "${e1:-null}" "$cb" "$((($(date +%s%N) - t0) / 1000000))e-3" "$(($(ticks "$b") - b0))" \
    "$(($(ticks "$pid") - s0))" "$(($(ticks "$r") - r0))" "$(($(ticks "$m") - m0))" "$(getconf CLK_TCK)" >"$RUN/$step-cpu.json"
  hwm >"$RUN/$step-rss.txt"
}

n=0
for kind in bare script autopipeline; do
  n=$((n + 1))
  echo "== $n/9 ceiling: $kind ($C connections, ${CEIL}s)" >&2
  case $kind in
  bare) .cache/bin/bareserver -addr 127.0.0.1:$CEIL_PORT & pid=$! ;;
  script) .cache/bin/scriptserver -addr 127.0.0.1:$CEIL_PORT -stock $UNITS & pid=$! ;;
  autopipeline) .cache/bin/scriptserver -addr 127.0.0.1:$CEIL_PORT -stock $UNITS -autopipeline & pid=$! ;;
  esac
  wait_port $CEIL_PORT
  measure "ceil-$kind" -bare -n 100000000 -duration "${CEIL}s" -url "http://127.0.0.1:$CEIL_PORT/seckill/kill"
  stop
done

# start_serve MODE STEP: a fresh seckill serve with SECKILL_BUYER_AUTH=MODE and topics of its own, ready on APP_PORT;
# its consumers run unless CONSUMERS=false.
CONSUMERS=true
start_serve() {
  SECKILL_BUYER_AUTH=$1 SECKILL_TOPIC=bench-$RUNID-$2 SECKILL_CONSUMER_GROUP=bench-$RUNID-$2 SECKILL_CONSUMERS=$CONSUMERS \
    SECKILL_HTTP_ADDR=127.0.0.1:$APP_PORT SECKILL_RATE_PER_USER=0 SECKILL_LOG_LEVEL=warn \
    SECKILL_PPROF_ADDR=${PROFILE:+127.0.0.1:$PPROF_PORT} bin/seckill serve >"$RUN/serve-$2.log" 2>&1 & pid=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$APP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  if ! kill -0 "$pid" 2>/dev/null || ! curl -sf "http://127.0.0.1:$APP_PORT/readyz" >/dev/null; then
    tail -20 "$RUN/serve-$2.log" >&2; echo "seckill serve ($2) did not get ready on port $APP_PORT" >&2; exit 1
  fi
}

# reserve MODE STEP: the reservation phase against a fresh serve, measured.
reserve() {
  start_serve "$1" "$2"
  local prof=
  if [ -n "$PROFILE" ] && [ ! -s "$PROFILE" ]; then
    rm -f "$RUN/$2.err"
    (for _ in $(seq 1200); do grep -qs 'load starts' "$RUN/$2.err" && break; sleep 0.05; done
     curl -sf -o "$PROFILE" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=$((RES > 4 ? RES - 2 : RES))") & prof=$!
  fi
  measure "$2" -stock $UNITS -buyers "$RESBUYERS" -dup 0 -duration "${RES}s" -no-drain
  if [ -n "$prof" ]; then wait "$prof" || echo "no CPU profile (SECKILL_PPROF_ADDR)" >&2; fi
  stop
}

echo "== 4/9 reservation phase: seckill serve, jwt (${RES}s, a new buyer per request, $UNITS units)" >&2
reserve jwt reserve-jwt-0

echo "== 5/9 reservation phase and one-EVALSHA ceiling side by side: $RPAIRS pairs of ${RSLICE}s slices" >&2
for i in $(seq "$RPAIRS"); do
  order="ceil serve"
  [ $((i % 2)) = 0 ] && order="serve ceil"
  for side in $order; do
    if [ "$side" = ceil ]; then
      .cache/bin/scriptserver -addr 127.0.0.1:$CEIL_PORT -stock $UNITS & pid=$!
      wait_port $CEIL_PORT
      measure "ceil-pair-$i" -bare -n 100000000 -duration "${RSLICE}s" -url "http://127.0.0.1:$CEIL_PORT/seckill/kill"
    else
      PROFILE= start_serve jwt "pair-$i"
      measure "reserve-pair-$i" -stock $UNITS -buyers $((RSLICE * 25000)) -dup 0 -duration "${RSLICE}s" -no-drain
    fi
    stop
  done
done

echo "== 6/9 token cost: jwt and trusted serves side by side, $PAIRS pairs of ${SLICE}s slices" >&2
TOKEN_PORT=18083
APP_PORT=$TOKEN_PORT CONSUMERS=false PROFILE= start_serve trusted token-trusted
side=$pid
CONSUMERS=false PROFILE= start_serve jwt token-jwt
jwt_pid=$pid
# A first slice to each, not counted: both serves warm their connections, caches and heaps.
APP_PORT=$TOKEN_PORT pid=$side measure warm-trusted -stock $UNITS -buyers $((SLICE * 20000)) -dup 0 -duration "${SLICE}s" -no-drain
pid=$jwt_pid measure warm-jwt -stock $UNITS -buyers $((SLICE * 20000)) -dup 0 -duration "${SLICE}s" -no-drain
for i in $(seq "$PAIRS"); do
  order="jwt trusted"
  [ $((i % 2)) = 0 ] && order="trusted jwt"
  for mode in $order; do
    if [ "$mode" = jwt ]; then pid=$jwt_pid; port=$APP_PORT; else pid=$side; port=$TOKEN_PORT; fi
    APP_PORT=$port measure "token-$mode-$i" -stock $UNITS -buyers $((SLICE * 20000)) -dup 0 -duration "${SLICE}s" -no-drain
  done
done
pid=$jwt_pid
stop
stop_side

half=$(python3 -c "import json;print(max(1, int(json.load(open('$RUN/reserve-jwt-0.json'))['rps']/2)))")
echo "== 7/9 open loop at $half req/s (half the reservation phase), ${OPEN}s" >&2
start_serve jwt open
measure open -stock $UNITS -buyers $((half * OPEN * 11 / 10 + 100)) -dup 0 -rate "$half" -duration "${OPEN}s" -no-drain
stop

echo "== 8/9 sold-out phase: a product of 0 units, ${SOLD}s" >&2
start_serve jwt soldout
measure soldout -stock 0 -buyers 50000 -repeat -dup 0 -duration "${SOLD}s" -no-drain
stop

echo "== 9/9 the sale: $BUYERS buyers, $STOCK units, drained into MySQL, invariants" >&2
start_serve jwt sale
measure sale -buyers "$BUYERS" -stock "$STOCK" -drain-timeout 180s
stop

python3 - "$RUN" "$C" "$TOPICS" <<'PY'
import glob, json, os, sys
run, conns, topics = sys.argv[1], sys.argv[2], sys.argv[3]
load = lambda name: json.load(open(os.path.join(run, name + ".json")))
def rss(step):
    try:
        return int(open(os.path.join(run, step + "-rss.txt")).read().strip() or 0) / 1024
    except (OSError, ValueError):
        return 0
steps = lambda prefix: sorted(os.path.basename(f)[:-5] for f in glob.glob(os.path.join(run, prefix + "*.json")) if not f.endswith("-cpu.json"))
R = {s: load(s) for s in steps("")}
CPU = {s: load(s + "-cpu") for s in R}
def us(step, *procs):
    """CPU µs of procs per answer of step."""
    c, r = CPU[step], R[step]
    return 1e6 * sum(c[p] for p in procs) / c["hz"] / max(r["requests"], 1)
codes = lambda r: " ".join("%s×%d" % (c, n) for c, n in sorted(r["codes"].items())) + (" err×%d" % r["errors"] if r["errors"] else "") + (" (ran out of buyers)" if r.get("exhausted") else "")
def row(label, step):
    r, l = R[step], R[step]["latencyMs"]
    print("%-52s %7.0f %7.2f %7.2f %7.2f %7.0f %6.0f  %s" % (label, r["rps"], l["p50"], l["p99"], l["p999"], us(step, "server"), us(step, "server", "redis", "broker", "mysql"), codes(r)))
jwt, trusted = steps("token-jwt-"), steps("token-trusted-")
res0 = "reserve-jwt-0"
print()
print("%-52s %7s %7s %7s %7s %7s %6s  %s" % ("measurement (%s connections)" % conns, "req/s", "p50 ms", "p99", "p99.9", "srv µs", "all µs", "answers"))
row("ceiling: bare net/http, fixed JSON", "ceil-bare")
row("ceiling: net/http + one EVALSHA of reserve.lua", "ceil-script")
row("ceiling: the same through go-redis AutoPipeline()", "ceil-autopipeline")
row("reservation phase: seckill serve, jwt", res0)
def agg(label, group):
    rs = [R[g] for g in group]
    med = lambda k: sorted(r["latencyMs"][k] for r in rs)[len(rs) // 2]
    print("%-52s %7.0f %7.2f %7.2f %7.2f %7.0f %6.0f  %d slices of %.0fs, medians of p50/p99/p99.9" % (label, mean([r["rps"] for r in rs]),
        med("p50"), med("p99"), med("p999"), mean([us(g, "server") for g in group]), mean([us(g, "server", "redis", "broker", "mysql") for g in group]),
        len(rs), mean([r["seconds"] for r in rs])))
mean = lambda xs: sum(xs) / len(xs)
agg("  token cost, side by side: jwt (mean)", jwt)
agg("  token cost, side by side: trusted (mean)", trusted)
row("open loop at %.0f/s (half the reservation phase)" % R["open"]["rate"], "open")
row("sold-out phase: seckill serve, jwt, 0 units", "soldout")
row("sale: %d units, closed loop, drained" % R["sale"]["stock"], "sale")
print("(srv µs: CPU of the server under test per answer; all µs: server + Redis + broker + MariaDB, shared with other work)")
res, script, auto, bare, opn, sold, sale = (R[k] for k in (res0, "ceil-script", "ceil-autopipeline", "ceil-bare", "open", "soldout", "sale"))
verdict = lambda ok: "ok" if ok else "NOT MET"
print()
print("%-52s %9s   %s" % ("ratio", "measured", "target"))
med = lambda xs: sorted(xs)[len(xs) // 2]
rp, cp = steps("reserve-pair-"), steps("ceil-pair-")
pairs = sorted((R[r]["rps"] / R[c]["rps"], r, c) for r, c in zip(rp, cp))
r1, _, _ = med(pairs)
cpu = [us(c, "server", "redis") / us(r, "server", "redis", "broker", "mysql") for _, r, c in pairs]
print("%-52s %9.2f   ≥ 1.0 (stretch 1.3)  %s;  pair by pair %s (serve %s, ceiling %s req/s); CPU per answer, ceiling server+Redis over serve+Redis+broker+MariaDB: median %.2f" % (
    "reservation phase / one-EVALSHA ceiling, median pair", r1, verdict(r1 >= 1), "/".join("%.2f" % p for p, _, _ in pairs),
    "/".join("%.0f" % R[r]["rps"] for r in rp), "/".join("%.0f" % R[c]["rps"] for c in cp), med(cpu)))
print("%-52s %9.2f   (CPU per answer: ceiling server+Redis %.0f µs, serve+Redis+broker+MariaDB %.0f µs)" % (
    "  the same, one window of each (the table's rows)", res["rps"] / script["rps"], us("ceil-script", "server", "redis"), us(res0, "server", "redis", "broker", "mysql")))
print("%-52s %9s   %s (ceiling / serve, medians of the pairs)" % ("  CPU per answer of each process, µs", "", ", ".join(
    "%s %.1f / %.1f" % (name, med([us(c, proc) for c in cp]), med([us(r, proc) for r in rp]))
    for name, proc in (("server", "server"), ("Redis", "redis"), ("broker", "broker"), ("MariaDB", "mysql")))))
print("%-52s %9.2f" % ("reservation phase / AutoPipeline ceiling", res["rps"] / auto["rps"]))
print("%-52s %9.2f" % ("AutoPipeline / one-EVALSHA ceiling", auto["rps"] / script["rps"]))
r3 = sold["rps"] / bare["rps"]
print("%-52s %9.2f   ≥ 0.9  %s;  server CPU per answer: bare %.0f µs, sold out %.0f µs" % ("sold-out phase / bare net/http", r3, verdict(r3 >= .9), us("ceil-bare", "server"), us("soldout", "server")))
p99 = opn["latencyMs"]["p99"]
print("%-52s %9.2f   ≤ 10 ms  %s  (p50 %.2f, p99.9 %.2f ms; %.0f of %.0f req/s scheduled)" % ("open-loop p99 at half the reservation rate, ms", p99, verdict(p99 <= 10), opn["latencyMs"]["p50"], opn["latencyMs"]["p999"], opn["rps"], opn["rate"]))
tj, tt = mean([R[s]["rps"] for s in jwt]), mean([R[s]["rps"] for s in trusted])
cost = 100 * (1 - tj / tt)
cj, ct = mean([us(s, "server") for s in jwt]), mean([us(s, "server") for s in trusted])
pairs = sorted(100 * (1 - R[j]["rps"] / R[t]["rps"]) for j, t in zip(jwt, trusted))
paired = med(pairs)
print("%-52s %8.1f%%   ≤ 5 %%  %s  (pair by pair %s %%; jwt %s, trusted %s req/s, 1 - mean/mean %.1f %%)" % (
    "token cost: 1 - jwt/trusted req/s, median of the pairs", paired, verdict(paired <= 5), "/".join("%.0f" % x for x in pairs),
    "/".join("%.0f" % R[s]["rps"] for s in jwt), "/".join("%.0f" % R[s]["rps"] for s in trusted), cost))
print("%-52s %8.1f%%   (serve CPU per answer: jwt %.0f µs, trusted %.0f µs, means of %d slices each)" % ("token cost: serve CPU per answer, jwt over trusted", 100 * (cj / ct - 1), cj, ct, len(jwt)))
serves = [s for s in R if not s.startswith("ceil-")]
peak = max(rss(s) for s in serves)
print("%-52s %8.0fM   ≤ 150 MB  %s  (reservation phase %.0f MB)" % ("serve RSS peak (VmHWM), the highest of every serve step", peak, verdict(peak <= 150), rss(res0)))
c = CPU[res0]
events = (c["published"][1] or 0) - (c["published"][0] or 0)
per = lambda k: 1e6 * c[k] / c["hz"] / events if events else 0
share = lambda k: 100 * c[k] / c["hz"] / c["seconds"]
print("%-52s %9.0f   (%d events in %.1fs; CPU of one core: broker %.0f%%, serve %.0f%%, Redis %.0f%%, MariaDB %.0f%%; %s topics on the broker at the start)" % (
    "broker CPU per published event, µs (reservation phase)", per("broker"), events, c["seconds"], share("broker"), share("server"), share("redis"), share("mysql"), topics))
cb = c.get("callBuyers") or [None, None]
if cb[1]:
    print("%-52s %9.1f   (%d buyers in %d calls since serve started)" % ("buyers per reserve.lua call (reservation phase)", cb[0] / cb[1], cb[0], cb[1]))
ok = "PASS" if sale["invariantsOk"] else "FAIL: " + "; ".join(sale["invariantFailures"])
print("sale: %s; sold out after %.2fs at %.0f req/s; drained into MySQL after %.2fs; invariants %s" % (
    codes(sale), sale.get("soldOutAfterSeconds", 0), sale.get("saleRps", 0), sale.get("drainedAfterSeconds", 0), ok))
bad = ["%s: %s" % (s, "; ".join(R[s]["invariantFailures"])) for s in serves if s != "sale" and not R[s]["invariantsOk"]]
for b in bad:
    print("answers broke an invariant in " + b)
sys.exit(0 if sale["invariantsOk"] and not bad else 1)
PY
