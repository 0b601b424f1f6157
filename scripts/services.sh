#!/usr/bin/env bash
# Starts (installing when missing) the real services seckill needs, all on 127.0.0.1:
#   Redis 6379, MariaDB 3306 (database and user seckill/seckill), RocketMQ NameServer 9876 + Broker 10911.
# Usage: scripts/services.sh up | down | status | restart-broker | reset-broker | stop-broker | start-broker
#   | stop-mysql | start-mysql | kill-redis | start-redis | kill-mysql | kill-broker
# reset-broker restarts the broker on an empty store: every topic, message, consumer group and offset is gone. The
# tests give every run topics and groups of their own, so a development broker gathers thousands of them, and the
# broker rewrites its whole topic, group and offset tables (megabytes of JSON) every few seconds.
# The kill-* verbs send SIGKILL to the service this script started (its pid file in the run dir) and wait until it
# is gone; start-* brings it back on the same data (Redis replays its AOF, MariaDB recovers, the broker its store).
# A service already answering on its port is reused; a second `up` returns within seconds.
# Logs and pid files live in .run/, downloaded jars in .cache/ (both gitignored).
# A second, isolated stack (the fault suite's) runs beside the default one with its own ports and run dir:
#   SECKILL_REDIS_PORT, SECKILL_MYSQL_PORT, SECKILL_NAMESRV_PORT, SECKILL_BROKER_PORT, SECKILL_RUN_DIR, RMQ_STORE
#   (and SECKILL_BROKER_NAME, SECKILL_BROKER_HEAP for a second broker of the cluster stack, scripts/cluster.sh).
# Sourced (scripts/cluster.sh does), it defines its functions and runs nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${SECKILL_RUN_DIR:-$ROOT/.run}
CACHE=${SECKILL_CACHE_DIR:-$ROOT/.cache}
RMQ_VERSION=${RMQ_VERSION:-5.3.3}
RMQ_LIB=$CACHE/rocketmq/lib-$RMQ_VERSION
REDIS_PORT=${SECKILL_REDIS_PORT:-6379}
MYSQL_PORT=${SECKILL_MYSQL_PORT:-3306}
NS_PORT=${SECKILL_NAMESRV_PORT:-9876}
BROKER_PORT=${SECKILL_BROKER_PORT:-10911}
if [[ $BROKER_PORT == 10911 ]]; then
  RMQ_STORE=${RMQ_STORE:-/dev/shm/seckill-rocketmq-$(id -u)}
else
  RMQ_STORE=${RMQ_STORE:-/dev/shm/seckill-rocketmq-$(id -u)-$BROKER_PORT}
fi
BROKER_NAME=${SECKILL_BROKER_NAME:-broker-a}
BROKER_HEAP=${SECKILL_BROKER_HEAP:-"-Xms192m -Xmx384m"}
PROBE=$CACHE/bin/rmqprobe

mkdir -p "$RUN" "$CACHE/bin"

log() { printf '%s services: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until DESCRIPTION SECONDS PIDFILE COMMAND...: polls COMMAND every 0.2 s; fails early if the pid died.
wait_until() {
  local what=$1 secs=$2 pidfile=$3; shift 3
  local deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [[ -n $pidfile && -f $pidfile ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "$what exited while starting"; return 1
    fi
    sleep 0.2
  done
  log "$what did not answer within ${secs}s"; return 1
}

apt_updated=""
apt_install() {
  [[ -z $apt_updated ]] && { log "apt-get update"; apt-get update -qq >/dev/null; apt_updated=1; }
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_cmd() { # need_cmd COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 ]] || apt_install "$2"
}

stop_pidfile() { # stop_pidfile NAME FILE SECONDS
  local name=$1 file=$2 secs=${3:-30}
  [[ -f $file ]] || return 0
  local pid; pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name did not stop in ${secs}s, killing"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$file"
}

kill_pidfile() { # kill_pidfile NAME FILE: SIGKILL, no shutdown; waits until the process is gone
  local name=$1 file=$2
  [[ -f $file ]] || die "$name: no pid file $file (was it started by this script with this run dir?)"
  local pid; pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    log "kill -9 $name (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && die "$name (pid $pid) still alive 10s after SIGKILL"
  fi
  rm -f "$file"
}

# ---------------------------------------------------------------- Redis
# AOF with an RDB preamble, rewritten once it has grown by half since the last rewrite (and is over 64 MB): a
# restart then loads a compact snapshot plus a short tail instead of replaying a whole sale command by command.
# scripts/aof-reload-bench.sh measures it (docs/restarts.md).
REDIS_AOF=(--appendonly yes --appendfsync everysec --aof-use-rdb-preamble yes
  --auto-aof-rewrite-percentage 50 --auto-aof-rewrite-min-size 64mb)
# How long a restarted Redis may take to load its dataset before `up` gives up.
REDIS_LOAD_TIMEOUT=${REDIS_LOAD_TIMEOUT:-600}
redis_ok() { redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>/dev/null | grep -q PONG; }
# redis_loading: Redis answers, but is still loading its dataset (PING answers LOADING).
redis_loading() { redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>&1 | grep -q LOADING; }
redis_answers() { redis_ok || redis_loading; }

# redis_wait_loaded PIDFILE: waits while Redis loads its AOF, logging its progress, until PING answers PONG.
redis_wait_loaded() {
  redis_loading || return 0
  log "redis is loading its dataset (waiting up to ${REDIS_LOAD_TIMEOUT}s, REDIS_LOAD_TIMEOUT)"
  local start=$SECONDS
  wait_until "redis dataset load" "$REDIS_LOAD_TIMEOUT" "$1" redis_ok || return 1
  log "redis loaded its dataset in about $((SECONDS - start))s"
}

redis_up() {
  need_cmd redis-server redis-server
  need_cmd redis-cli redis-tools
  if redis_loading; then redis_wait_loaded "" || die "redis did not finish loading"; fi
  if redis_ok; then log "redis already answering on 127.0.0.1:$REDIS_PORT"; return; fi
  port_open $REDIS_PORT && die "port $REDIS_PORT is taken by something that is not Redis"
  mkdir -p "$RUN/redis"
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --daemonize yes \
    --pidfile "$RUN/redis.pid" --logfile "$RUN/redis.log" --dir "$RUN/redis" \
    "${REDIS_AOF[@]}" --save "" --protected-mode no
  wait_until redis 20 "" redis_answers || { tail -20 "$RUN/redis.log" >&2; die "redis did not start"; }
  redis_wait_loaded "$RUN/redis.pid" || { tail -20 "$RUN/redis.log" >&2; die "redis did not finish loading"; }
  log "redis up on 127.0.0.1:$REDIS_PORT"
}

redis_down() {
  if [[ -f $RUN/redis.pid ]]; then stop_pidfile redis "$RUN/redis.pid" 20; fi
}

# ---------------------------------------------------------------- MariaDB
MYSQL_SOCK=$RUN/mysqld.sock
mysql_ok() { mysql --protocol=TCP -h 127.0.0.1 -P $MYSQL_PORT -useckill -pseckill -e 'SELECT 1' seckill; }

mysql_provision() { # creates the database and the user through the root socket
  local sock=$1
  mysql --protocol=SOCKET -S "$sock" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS seckill CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS 'seckill'@'127.0.0.1' IDENTIFIED BY 'seckill';
CREATE USER IF NOT EXISTS 'seckill'@'localhost' IDENTIFIED BY 'seckill';
CREATE USER IF NOT EXISTS 'seckill'@'%' IDENTIFIED BY 'seckill';
GRANT ALL PRIVILEGES ON *.* TO 'seckill'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'seckill'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO 'seckill'@'%';
FLUSH PRIVILEGES;
SQL
}

mysql_up() {
  need_cmd mariadbd mariadb-server
  need_cmd mysql mariadb-client
  if mysql_ok >/dev/null 2>&1; then log "mariadb already answering on 127.0.0.1:$MYSQL_PORT"; return; fi
  if port_open $MYSQL_PORT; then
    # Something answers but our user does not work: try to provision it through a local root socket.
    for sock in "$MYSQL_SOCK" /run/mysqld/mysqld.sock /var/run/mysqld/mysqld.sock; do
      if [[ -S $sock ]] && mysql_provision "$sock" 2>/dev/null && mysql_ok >/dev/null 2>&1; then
        log "mariadb on 127.0.0.1:$MYSQL_PORT reused; database and user seckill provisioned"; return
      fi
    done
    die "port $MYSQL_PORT answers, but user seckill/seckill cannot log in and no root socket was usable"
  fi
  local data=$RUN/mysql
  if [[ ! -d $data/mysql ]]; then
    log "initialising mariadb data directory $data"
    mkdir -p "$data"
    mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$data" --auth-root-authentication-method=socket \
      --skip-test-db >"$RUN/mysql-install.log" 2>&1 || { tail -20 "$RUN/mysql-install.log" >&2; die "mariadb-install-db failed"; }
  fi
  local basecnf=$RUN/my.cnf
  cat >"$basecnf" <<EOF
[mariadbd]
datadir=$data
socket=$MYSQL_SOCK
pid-file=$RUN/mysql.pid
log-error=$RUN/mysql.log
bind-address=127.0.0.1
port=$MYSQL_PORT
user=$(id -un)
character-set-server=utf8mb4
collation-server=utf8mb4_bin
max_connections=500
innodb_buffer_pool_size=256M
innodb_log_file_size=256M
innodb_flush_log_at_trx_commit=1
skip-name-resolve
EOF
  nohup mariadbd --defaults-file="$basecnf" >>"$RUN/mysql.out" 2>&1 &
  echo $! >"$RUN/mysql.pid.launch"
  wait_until mariadb 60 "$RUN/mysql.pid.launch" test -S "$MYSQL_SOCK" || { tail -30 "$RUN/mysql.log" >&2; die "mariadb did not start"; }
  wait_until "mariadb root socket" 30 "$RUN/mysql.pid.launch" mysql --protocol=SOCKET -S "$MYSQL_SOCK" -uroot -e 'SELECT 1' \
    || die "mariadb root socket did not answer"
  mysql_provision "$MYSQL_SOCK"
  wait_until "mariadb tcp" 30 "$RUN/mysql.pid.launch" mysql_ok || die "mariadb does not accept seckill/seckill over TCP"
  log "mariadb up on 127.0.0.1:$MYSQL_PORT (database seckill, user seckill/seckill)"
}

mysql_down() {
  [[ -f $RUN/mysql.pid.launch ]] && stop_pidfile mariadb "$RUN/mysql.pid.launch" 60
  rm -f "$RUN/mysql.pid"
}

# ---------------------------------------------------------------- RocketMQ
rmq_jars() {
  [[ -f $RMQ_LIB/.ok ]] && return
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  log "downloading RocketMQ $RMQ_VERSION jars from Maven Central into $RMQ_LIB"
  mvn -B -q -f "$ROOT/tools/rocketmq/pom.xml" -Drocketmq.version="$RMQ_VERSION" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$RMQ_LIB" >"$RUN/maven.log" 2>&1 \
    || { tail -30 "$RUN/maven.log" >&2; die "maven could not fetch the RocketMQ jars"; }
  touch "$RMQ_LIB/.ok"
}

rmq_probe_build() {
  local src=$ROOT/tools/rmqprobe/main.go
  if [[ ! -x $PROBE || $src -nt $PROBE ]]; then
    log "building the RocketMQ probe"
    (cd "$ROOT" && go build -o "$PROBE" ./tools/rmqprobe)
  fi
}

JOPTS=()
rmq_jopts() {
  JOPTS=(-server -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+UseContainerSupport -Xss512k
    -Duser.home="$RUN/rocketmq-home" -Drocketmq.home.dir="$RUN/rocketmq-home"
    --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
    --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED
    --add-exports=java.base/sun.nio.ch=ALL-UNNAMED -cp "$RMQ_LIB/*")
  mkdir -p "$RUN/rocketmq-home"
}

namesrv_up() {
  if port_open $NS_PORT; then log "rocketmq namesrv already answering on 127.0.0.1:$NS_PORT"; return; fi
  rmq_jars; rmq_jopts
  printf 'listenPort=%s\nbindAddress=127.0.0.1\n' $NS_PORT >"$RUN/namesrv.conf"
  ROCKETMQ_HOME="$RUN/rocketmq-home" nohup java -Xms64m -Xmx128m -XX:MaxMetaspaceSize=128m "${JOPTS[@]}" \
    -Drmq.logback.configurationFile=rmq.namesrv.logback.xml \
    org.apache.rocketmq.namesrv.NamesrvStartup -c "$RUN/namesrv.conf" >"$RUN/namesrv.log" 2>&1 &
  echo $! >"$RUN/namesrv.pid"
  wait_until "rocketmq namesrv" 60 "$RUN/namesrv.pid" grep -q "boot success" "$RUN/namesrv.log" \
    || { tail -30 "$RUN/namesrv.log" >&2; die "rocketmq namesrv did not start"; }
  log "rocketmq namesrv up on 127.0.0.1:$NS_PORT"
}

broker_start() {
  rmq_jars; rmq_jopts
  mkdir -p "$RMQ_STORE"
  sed "s#@STORE@#$RMQ_STORE#g; s#@NS@#127.0.0.1:$NS_PORT#; s#@BP@#$BROKER_PORT#; s#^brokerName=.*#brokerName=$BROKER_NAME#" \
    "$ROOT/tools/rocketmq/broker.conf.in" >"$RUN/broker.conf"
  # shellcheck disable=SC2086 # BROKER_HEAP is a list of JVM flags
  ROCKETMQ_HOME="$RUN/rocketmq-home" nohup java $BROKER_HEAP -XX:MaxDirectMemorySize=256m -XX:MaxMetaspaceSize=192m \
    "${JOPTS[@]}" -Drmq.logback.configurationFile=rmq.broker.logback.xml \
    org.apache.rocketmq.broker.BrokerStartup -c "$RUN/broker.conf" >"$RUN/broker.log" 2>&1 &
  echo $! >"$RUN/broker.pid"
  wait_until "rocketmq broker" 120 "$RUN/broker.pid" grep -q "boot success" "$RUN/broker.log" \
    || { tail -30 "$RUN/broker.log" >&2; die "rocketmq broker did not start"; }
}

broker_ready() { "$PROBE" -namesrv "127.0.0.1:$NS_PORT" -broker "127.0.0.1:$BROKER_PORT" "$@"; }

broker_up() {
  rmq_probe_build
  if port_open $BROKER_PORT && broker_ready -quick >/dev/null 2>&1; then
    log "rocketmq broker already answering on 127.0.0.1:$BROKER_PORT"; return
  fi
  port_open $BROKER_PORT && die "port $BROKER_PORT is open but the broker is not registered with the namesrv"
  broker_start
  broker_ready || die "rocketmq broker started but a probe message did not go through (see $RUN/broker.log)"
  log "rocketmq broker up on 127.0.0.1:$BROKER_PORT (store $RMQ_STORE)"
}

broker_down() { stop_pidfile "rocketmq broker" "$RUN/broker.pid" 60; }

rmq_down() {
  broker_down
  stop_pidfile "rocketmq namesrv" "$RUN/namesrv.pid" 30
}

# ---------------------------------------------------------------- commands
status() {
  local s
  redis_ok && s=up || s=down; printf 'redis     127.0.0.1:%s  %s\n' $REDIS_PORT $s
  mysql_ok >/dev/null 2>&1 && s=up || s=down; printf 'mariadb   127.0.0.1:%s  %s\n' $MYSQL_PORT $s
  port_open $NS_PORT && s=up || s=down; printf 'namesrv   127.0.0.1:%s  %s\n' $NS_PORT $s
  port_open $BROKER_PORT && s=up || s=down; printf 'broker    127.0.0.1:%s %s\n' $BROKER_PORT $s
}

[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

case ${1:-up} in
  up)
    start=$SECONDS
    redis_up
    mysql_up
    namesrv_up
    broker_up
    log "all services up in $((SECONDS - start))s"
    cat <<EOF
SECKILL_REDIS_ADDR=127.0.0.1:$REDIS_PORT
SECKILL_MYSQL_DSN=seckill:seckill@tcp(127.0.0.1:$MYSQL_PORT)/seckill?parseTime=true
SECKILL_ROCKETMQ_NAMESRV=127.0.0.1:$NS_PORT
# broker 127.0.0.1:$BROKER_PORT; logs and pids in $RUN
EOF
    ;;
  down) rmq_down; mysql_down; redis_down ;;
  status) status ;;
  restart-broker) broker_down; rmq_probe_build; broker_start; broker_ready; log "rocketmq broker restarted" ;;
  reset-broker) broker_down; rm -rf "$RMQ_STORE"; rmq_probe_build; broker_start; broker_ready; log "rocketmq broker restarted on an empty store" ;;
  stop-broker) broker_down ;;
  start-broker) rmq_probe_build; broker_up ;;
  stop-mysql) mysql_down ;;
  start-mysql) mysql_up ;;
  kill-redis) kill_pidfile redis "$RUN/redis.pid" ;;
  start-redis) redis_up ;;
  kill-mysql) kill_pidfile mariadb "$RUN/mysql.pid.launch"; rm -f "$RUN/mysql.pid" "$MYSQL_SOCK" ;;
  kill-broker) kill_pidfile "rocketmq broker" "$RUN/broker.pid" ;;
  *) echo "usage: $0 up|down|status|restart-broker|reset-broker|stop-broker|start-broker|stop-mysql|start-mysql|kill-redis|start-redis|kill-mysql|kill-broker" >&2; exit 2 ;;
esac
