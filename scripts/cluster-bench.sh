#!/usr/bin/env bash
# The hot product on Redis Cluster (docs/scaling.md): how many reservations one shard carries, against the same
# load spread over products on every shard, in one run on the cluster stack (make services-cluster first).
#   1. one product:  CLIENTS redis-benchmark connections run reserve.lua (EVALSHA) on one product, so on one shard;
#   2. three products, one per master, then four products (one shard holds two): the same CLIENTS split over
#      them, one redis-benchmark per product against the master that owns it, all at once.
# Each script run reserves (stock 10^9, a random buyer each time). Printed per step: reservations/s in all and per
# shard, and the shards' own cost of a script (INFO commandstats usec_per_call of evalsha), whose inverse is one
# shard's ceiling when its single thread does nothing else. Knobs: BENCH_N (script runs per product, 100000),
# BENCH_CLIENTS (48). The products' keys are removed at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${BENCH_N:-100000}
CLIENTS=${BENCH_CLIENTS:-48}
SEED=127.0.0.1:17001
RUN=${SECKILL_CLUSTER_RUN_DIR:-$ROOT/.run/cluster}/bench
mkdir -p "$RUN"

cli() { redis-cli -c -h 127.0.0.1 -p "${SEED#*:}" "$@"; }
redis-cli -p "${SEED#*:}" cluster info | grep -q cluster_state:ok || { echo "the cluster stack is not up (make services-cluster)" >&2; exit 1; }

# Product ids: the first three land on three different masters, the fourth on the first's master.
ids=(); masters=()
for id in $(seq 990000001 990001000); do
  m=$(redis-cli -p "${SEED#*:}" cluster nodes | awk -v slot="$(cli cluster keyslot "seckill:{$id}:stock")" '
    $3 ~ /master/ { for (i = 9; i <= NF; i++) { split($i, r, "-"); if (r[2] == "") r[2] = r[1];
      if (slot + 0 >= r[1] + 0 && slot + 0 <= r[2] + 0) { split($2, a, "@"); print a[1] } } }')
  if [[ ${#ids[@]} -lt 3 && ! " ${masters[*]} " =~ " $m " ]] || [[ ${#ids[@]} -eq 3 && $m == "${masters[0]}" ]]; then
    ids+=("$id"); masters+=("$m")
  fi
  [[ ${#ids[@]} -eq 4 ]] && break
done

keys() { local k="seckill:{$1}"; echo "$k:stock $k:info $k:buyers $k:orders $k:seq $k:outbox $k:evseq"; }
load() { # load ID MASTER
  local k="seckill:{$1}" p=${2#*:}
  # shellcheck disable=SC2046
  redis-cli -p "$p" DEL $(keys "$1") >/dev/null
  redis-cli -p "$p" HSET "$k:info" name bench price 699900 start 0 end 0 listed 1000000000 >/dev/null
  redis-cli -p "$p" SET "$k:stock" 1000000000 >/dev/null
}
for i in 0 1 2 3; do load "${ids[$i]}" "${masters[$i]}"; done
SHA=""
for m in $(printf '%s\n' "${masters[@]}" | sort -u); do SHA=$(redis-cli -p "${m#*:}" SCRIPT LOAD "$(cat "$ROOT/schema/redis/reserve.lua")"); done

cpu_of() { redis-cli -p "${1#*:}" info cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.2f", s }'; }
usec_of() { redis-cli -p "${1#*:}" info commandstats | sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p'; }

# bench ID MASTER CLIENTS OUT: one redis-benchmark of reserve.lua on product ID (N runs).
bench() {
  local id=$1 m=$2 c=$3 out=$4 k="seckill:{$1}"
  redis-benchmark -h 127.0.0.1 -p "${m#*:}" -c "$c" -n "$N" -r 1000000000 --csv \
    EVALSHA "$SHA" 7 "$k:stock" "$k:info" "$k:buyers" "$k:orders" "$k:seq" "$k:outbox" "$k:evseq" "$id" \
    __rand_int__ 1 "$(date +%s%3N)" "ev-__rand_int__" >"$out"
}
rps() { awk -F, 'NR == 2 { gsub(/"/, "", $2); print $2 }' "$1"; }

# step NAME COUNT: runs the first COUNT products at once, CLIENTS split over them; prints the figures.
step() {
  local name=$1 count=$2 pids=() i
  local c=$((CLIENTS / count))
  for m in "${masters[@]}"; do redis-cli -p "${m#*:}" config resetstat >/dev/null; done
  declare -A cpu0
  for m in $(printf '%s\n' "${masters[@]}" | sort -u); do cpu0[$m]=$(cpu_of "$m"); done
  local t0; t0=$(date +%s.%N)
  for ((i = 0; i < count; i++)); do bench "${ids[$i]}" "${masters[$i]}" "$c" "$RUN/$name-$i.csv" & pids+=($!); done
  wait "${pids[@]}"
  local t1; t1=$(date +%s.%N)
  local total=0 line=""
  for ((i = 0; i < count; i++)); do
    local r; r=$(rps "$RUN/$name-$i.csv"); total=$(awk -v a="$total" -v b="$r" 'BEGIN { print a + b }')
    line+=" product ${ids[$i]}@${masters[$i]}=${r}/s"
  done
  printf '%-16s total %8.0f reservations/s over %.1fs;%s\n' "$name" "$total" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$line"
  for m in $(printf '%s\n' "${masters[@]}" | sort -u); do
    local used; used=$(awk -v a="${cpu0[$m]}" -v b="$(cpu_of "$m")" -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 'BEGIN { printf "%.0f", 100 * (b - a) / t }')
    printf '    shard %s: cpu %s%% of one core, evalsha %s usec/call\n' "$m" "$used" "$(usec_of "$m")"
  done
}

echo "cluster bench: $N reservations per product, $CLIENTS connections in all; products ${ids[*]} on ${masters[*]}"
step one-product 1
step three-products 3
step four-products 4
for i in 0 1 2 3; do
  # shellcheck disable=SC2046
  redis-cli -p "${masters[$i]#*:}" DEL $(keys "${ids[$i]}") >/dev/null
done
