#!/usr/bin/env bash
# The cluster stack (docs/scaling.md): seckill's services spread over several nodes, all on 127.0.0.1, on ports
# of their own beside the shared stack (6379/3306/9876/10911) and the fault suite's (16379/13306/19876/20911):
#   Redis Cluster   3 masters 17001-17003, one replica each 17004-17006 (cluster-node-timeout 2s, AOF)
#   RocketMQ        NameServer 29876; broker-a 30911 and broker-b 31911 in one cluster (DefaultCluster), heaps 256m
#   MariaDB         the shared one on SECKILL_CLUSTER_MYSQL_PORT (3306; started when nothing answers there),
#                   database seckill_cluster (tests make their own)
# Usage: scripts/cluster.sh up | down | status | env | app-up | app-down | kill-redis PORT | start-redis PORT
#   | kill-broker a|b | start-broker a|b
# `up` is idempotent (what answers is reused) and prints the SECKILL_* settings of the stack, as `env` does.
# `app-up` builds seckill and runs it on the stack as the issue's deployment: serve-a 127.0.0.1:28081 and serve-b
# 28082 (SECKILL_CONSUMERS=false), consume-a 28091 and consume-b 28092 (metrics), development admin token and
# buyer secret; `app-down` (and `down`) stops them.
# kill-redis sends SIGKILL to the Redis node on PORT; start-redis starts it again on its AOF and nodes.conf (a
# master whose replica was promoted meanwhile rejoins as a replica). Run dir: $SECKILL_CLUSTER_RUN_DIR, default
# .run/cluster; jars and the probe come from scripts/services.sh's cache (SECKILL_CACHE_DIR), whose functions this
# script reuses.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRUN=${SECKILL_CLUSTER_RUN_DIR:-$ROOT/.run/cluster}
REDIS_MASTERS=(17001 17002 17003)
REDIS_REPLICAS=(17004 17005 17006)
CNS_PORT=29876
declare -A BROKERS=([a]=30911 [b]=31911)
CMYSQL_PORT=${SECKILL_CLUSTER_MYSQL_PORT:-3306}
CLUSTER_DB=seckill_cluster

export SECKILL_RUN_DIR=$CRUN SECKILL_NAMESRV_PORT=$CNS_PORT SECKILL_MYSQL_PORT=$CMYSQL_PORT
# shellcheck source=services.sh
source "$ROOT/scripts/services.sh"

# ---------------------------------------------------------------- Redis Cluster
cli() { local port=$1; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }
node_ok() { cli "$1" ping 2>/dev/null | grep -q PONG; }

node_up() { # node_up PORT: starts one cluster-enabled Redis unless it answers
  local port=$1
  if node_ok "$port"; then return; fi
  port_open "$port" && die "port $port is taken by something that is not Redis"
  mkdir -p "$CRUN/redis-$port"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --protected-mode no \
    --pidfile "$CRUN/redis-$port.pid" --logfile "$CRUN/redis-$port.log" --dir "$CRUN/redis-$port" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    "${REDIS_AOF[@]}" --save ""
  wait_until "redis $port" 60 "" node_ok "$port" || { tail -20 "$CRUN/redis-$port.log" >&2; die "redis $port did not start"; }
}

cluster_ok() { cli "${REDIS_MASTERS[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; }
known_nodes() { cli "$1" cluster info 2>/dev/null | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p'; }

redis_cluster_up() {
  need_cmd redis-server redis-server
  need_cmd redis-cli redis-tools
  local p
  for p in "${REDIS_MASTERS[@]}" "${REDIS_REPLICAS[@]}"; do node_up "$p"; done
  if [[ $(known_nodes "${REDIS_MASTERS[0]}") == 1 ]]; then
    log "creating the redis cluster (3 masters, 1 replica each)"
    local addrs=()
    for p in "${REDIS_MASTERS[@]}" "${REDIS_REPLICAS[@]}"; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$CRUN/cluster-create.log" 2>&1 \
      || { tail -20 "$CRUN/cluster-create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  wait_until "redis cluster state ok" 60 "" cluster_ok || die "the redis cluster is not ok (redis-cli -p ${REDIS_MASTERS[0]} cluster info)"
  log "redis cluster up: $(cli "${REDIS_MASTERS[0]}" cluster nodes | awk '$3 ~ /master/' | wc -l) masters, $(cli "${REDIS_MASTERS[0]}" cluster nodes | awk '$3 ~ /slave/' | wc -l) replicas"
}

redis_cluster_down() {
  local p pids=()
  for p in "${REDIS_MASTERS[@]}" "${REDIS_REPLICAS[@]}"; do stop_pidfile "redis $p" "$CRUN/redis-$p.pid" 20 & pids+=($!); done
  wait "${pids[@]}"
}

# ---------------------------------------------------------------- RocketMQ: two brokers, one NameServer
broker_env() { # broker_env a|b: points services.sh's broker functions at broker-NAME (run in a subshell)
  local name=$1
  [[ -n ${BROKERS[$name]:-} ]] || die "no broker $name (a or b)"
  RUN=$CRUN/broker-$name BROKER_PORT=${BROKERS[$name]} BROKER_NAME=broker-$name BROKER_HEAP="-Xms128m -Xmx256m"
  RMQ_STORE=/dev/shm/seckill-rocketmq-$(id -u)-${BROKERS[$name]}
  mkdir -p "$RUN"
}

cluster_broker_up() { (broker_env "$1"; broker_up) }

# ---------------------------------------------------------------- MariaDB
cluster_mysql_up() {
  mysql_up
  mysql --protocol=TCP -h 127.0.0.1 -P "$CMYSQL_PORT" -useckill -pseckill \
    -e "CREATE DATABASE IF NOT EXISTS $CLUSTER_DB CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
}

print_env() {
  local masters=() p
  for p in "${REDIS_MASTERS[@]}"; do masters+=("127.0.0.1:$p"); done
  cat <<EOF
SECKILL_REDIS_ADDR=$(IFS=,; echo "${masters[*]}")
SECKILL_MYSQL_DSN=seckill:seckill@tcp(127.0.0.1:$CMYSQL_PORT)/$CLUSTER_DB?parseTime=true
SECKILL_ROCKETMQ_NAMESRV=127.0.0.1:$CNS_PORT
SECKILL_ROCKETMQ_BROKER=127.0.0.1:${BROKERS[a]},127.0.0.1:${BROKERS[b]}
# logs and pids in $CRUN
EOF
}

# ---------------------------------------------------------------- seckill on the stack
APPS=(serve-a:serve:28081 serve-b:serve:28082 consume-a:consume:28091 consume-b:consume:28092)

app_up() {
  mkdir -p "$CRUN/bin" "$CRUN/app"
  (cd "$ROOT" && go build -o "$CRUN/bin/seckill" ./cmd/seckill)
  local line env=() a name cmd port
  while IFS= read -r line; do [[ $line == SECKILL_* ]] && env+=("$line"); done < <(print_env)
  for a in "${APPS[@]}"; do
    IFS=: read -r name cmd port <<<"$a"
    if port_open "$port"; then log "$name already answering on 127.0.0.1:$port"; continue; fi
    env "${env[@]}" SECKILL_HTTP_ADDR=127.0.0.1:$port SECKILL_CONSUMERS=$([[ $cmd == serve ]] && echo false || echo true) \
      SECKILL_ADMIN_TOKEN=${SECKILL_ADMIN_TOKEN:-dev-admin-token} \
      SECKILL_BUYER_JWT_SECRET=${SECKILL_BUYER_JWT_SECRET:-dev-buyer-jwt-secret-not-for-production} \
      nohup "$CRUN/bin/seckill" "$cmd" >>"$CRUN/app/$name.log" 2>&1 &
    echo $! >"$CRUN/app/$name.pid"
  done
  for a in "${APPS[@]}"; do
    IFS=: read -r name cmd port <<<"$a"
    local path=/healthz; [[ $cmd == serve ]] && path=/readyz
    wait_until "$name" 120 "$CRUN/app/$name.pid" curl -sf "http://127.0.0.1:$port$path" \
      || { tail -5 "$CRUN/app/$name.log" >&2; die "$name did not get ready"; }
    log "$name up on http://127.0.0.1:$port (log $CRUN/app/$name.log)"
  done
}

app_down() { # all at once: each serve drains for SECKILL_SHUTDOWN_DRAIN first
  local a name pids=()
  for a in "${APPS[@]}"; do name=${a%%:*}; stop_pidfile "$name" "$CRUN/app/$name.pid" 30 & pids+=($!); done
  wait "${pids[@]}"
}

cluster_status() {
  local p s
  for p in "${REDIS_MASTERS[@]}" "${REDIS_REPLICAS[@]}"; do
    node_ok "$p" && s=$(cli "$p" role | head -1) || s=down; printf 'redis     127.0.0.1:%s  %s\n' "$p" "$s"
  done
  cluster_ok && s=ok || s=down; printf 'cluster   state %s\n' "$s"
  mysql_ok >/dev/null 2>&1 && s=up || s=down; printf 'mariadb   127.0.0.1:%s  %s\n' "$CMYSQL_PORT" "$s"
  port_open $CNS_PORT && s=up || s=down; printf 'namesrv   127.0.0.1:%s %s\n' $CNS_PORT "$s"
  for p in a b; do
    port_open "${BROKERS[$p]}" && s=up || s=down; printf 'broker-%s  127.0.0.1:%s %s\n' "$p" "${BROKERS[$p]}" "$s"
  done
}

case ${1:-up} in
  up)
    start=$SECONDS
    redis_cluster_up
    cluster_mysql_up
    namesrv_up
    rmq_probe_build
    cluster_broker_up a
    cluster_broker_up b
    log "cluster stack up in $((SECONDS - start))s"
    print_env
    ;;
  down)
    app_down
    (broker_env a; broker_down) & (broker_env b; broker_down) & wait
    stop_pidfile "rocketmq namesrv" "$CRUN/namesrv.pid" 30
    mysql_down
    redis_cluster_down
    ;;
  status) cluster_status ;;
  env) print_env ;;
  app-up) app_up ;;
  app-down) app_down ;;
  kill-redis) kill_pidfile "redis ${2:?port}" "$CRUN/redis-$2.pid" ;;
  start-redis) node_up "${2:?port}"; wait_until "redis cluster state ok" 60 "" cluster_ok ;;
  kill-broker) (broker_env "${2:?a or b}"; kill_pidfile "rocketmq broker-$2" "$RUN/broker.pid") ;;
  start-broker) rmq_probe_build; cluster_broker_up "${2:?a or b}" ;;
  *) echo "usage: $0 up|down|status|env|app-up|app-down|kill-redis PORT|start-redis PORT|kill-broker a|b|start-broker a|b" >&2; exit 2 ;;
esac
