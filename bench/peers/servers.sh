#!/usr/bin/env bash
# bench/peers/servers.sh — starts and stops the peer servers of the benchmark suite as the current
# user, on 127.0.0.1 only, on free private ports, with everything (data, logs, config, Erlang
# cookie) under a private directory. The system services (systemctl, /var/lib) are never used.
#
# Usage: servers.sh start rabbitmq|redis DIR   starts one, waits until it serves (time limit), and
#                                               prints its client port; state lives in DIR
#        servers.sh stop rabbitmq|redis DIR    stops what `start` started in DIR (idempotent)
# Exit status: 0 on success; 1 when the server cannot be started (the reason is on stderr; the
# half-started server is stopped again).
#
# RabbitMQ: RABBITMQ_NODENAME / RABBITMQ_NODE_PORT / RABBITMQ_MNESIA_BASE / RABBITMQ_LOG_BASE /
# RABBITMQ_CONFIG_FILE with the listener on 127.0.0.1, a private epmd (ERL_EPMD_PORT, bound to
# 127.0.0.1) and Erlang distribution port (RABBITMQ_DIST_PORT, loopback interface), no plugins.
# Redis: --bind 127.0.0.1 --port P --dir DIR --appendonly yes --appendfsync always, no RDB saves.
set -euo pipefail

ready_limit_s=${CORQ_PEERS_READY_LIMIT_S:-120}

die() { echo "servers.sh: $*" >&2; exit 1; }

# A TCP port nobody listens on (random in 20000-59999, checked with ss).
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then echo "$port"; return 0; fi
  done
  die "no free port found"
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Waits up to $2 seconds for pid $1 to exit.
wait_exit() {
  local pid=$1 limit=$2 i
  for i in $(seq 1 $((limit * 10))); do alive "$pid" || return 0; sleep 0.1; done
  return 1
}

# ---- RabbitMQ ---------------------------------------------------------------------------------
rabbitmq_env() {
  local dir=$1
  export HOME=$dir  # the Erlang cookie goes here, not into the user's home
  export RABBITMQ_NODENAME="corq-peers-$(cat "$dir/port")@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT
  RABBITMQ_NODE_PORT=$(cat "$dir/port")
  export RABBITMQ_DIST_PORT
  RABBITMQ_DIST_PORT=$(cat "$dir/dist_port")
  export ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_EPMD_PORT
  ERL_EPMD_PORT=$(cat "$dir/epmd_port")
  export RABBITMQ_MNESIA_BASE=$dir/mnesia
  export RABBITMQ_LOG_BASE=$dir/log
  export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
  export RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
  export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
  export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

rabbitmq_start() {
  local dir=$1 bin=/usr/lib/rabbitmq/bin
  [ -x "$bin/rabbitmq-server" ] || die "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
  command -v epmd >/dev/null || die "epmd (erlang-base) is not installed"
  mkdir -p "$dir/mnesia" "$dir/log"
  free_port >"$dir/port"
  free_port >"$dir/dist_port"
  free_port >"$dir/epmd_port"
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$(cat "$dir/port")
loopback_users.guest = true
log.console = false
log.file.level = warning
CONF
  echo "[]." >"$dir/enabled_plugins"
  echo "[]." >"$dir/advanced.config"
  : >"$dir/rabbitmq-env.conf"
  (
    rabbitmq_env "$dir"
    epmd -address 127.0.0.1 -port "$ERL_EPMD_PORT" -daemon
    setsid "$bin/rabbitmq-server" >"$dir/log/stdout.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
  )
  local pid i
  pid=$(cat "$dir/server.pid")
  for i in $(seq 1 $((ready_limit_s * 2))); do
    if ! alive "$pid"; then
      tail -20 "$dir/log/stdout.log" >&2 || true
      rabbitmq_stop "$dir"
      die "rabbitmq-server exited during startup (log: $dir/log)"
    fi
    # The AMQP listener opens last in the boot sequence: once it listens, the node serves.
    if ss -Htln "sport = :$(cat "$dir/port")" 2>/dev/null | grep -q .; then
      cat "$dir/port"
      return 0
    fi
    sleep 0.5
  done
  rabbitmq_stop "$dir"
  die "rabbitmq-server not ready within ${ready_limit_s} s (log: $dir/log)"
}

rabbitmq_stop() {
  local dir=$1 bin=/usr/lib/rabbitmq/bin pid
  [ -f "$dir/server.pid" ] || return 0
  pid=$(cat "$dir/server.pid")
  if alive "$pid"; then
    (rabbitmq_env "$dir"; timeout 60 "$bin/rabbitmqctl" -q stop) >/dev/null 2>&1 || true
    # The node's own pid (beam) may differ from the script's; stop both if still there.
    local node_pid
    node_pid=$(cat "$dir/rabbitmq.pid" 2>/dev/null || true)
    wait_exit "$pid" 30 || kill "$pid" 2>/dev/null || true
    if alive "$node_pid"; then kill "$node_pid" 2>/dev/null || true; wait_exit "$node_pid" 10 || kill -9 "$node_pid" 2>/dev/null || true; fi
    wait_exit "$pid" 10 || kill -9 "$pid" 2>/dev/null || true
  fi
  if [ -f "$dir/epmd_port" ]; then
    # epmd -kill refuses while nodes are registered; by now the node is gone.
    epmd -port "$(cat "$dir/epmd_port")" -kill >/dev/null 2>&1 || true
  fi
  rm -f "$dir/server.pid"
}

# ---- Redis ------------------------------------------------------------------------------------
redis_start() {
  local dir=$1
  command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
  command -v redis-cli >/dev/null || die "redis-cli is not installed (apt-get install redis-tools)"
  mkdir -p "$dir/data"
  free_port >"$dir/port"
  local port pid i
  port=$(cat "$dir/port")
  setsid redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/data" --appendonly yes \
    --appendfsync always --save '' --protected-mode yes --daemonize no \
    --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1 &
  pid=$!
  echo "$pid" >"$dir/server.pid"
  for i in $(seq 1 $((ready_limit_s * 10))); do
    if ! alive "$pid"; then
      tail -20 "$dir/redis.log" >&2 || true
      redis_stop "$dir"
      die "redis-server exited during startup (log: $dir/redis.log)"
    fi
    if [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
      echo "$port"
      return 0
    fi
    sleep 0.1
  done
  redis_stop "$dir"
  die "redis-server not ready within ${ready_limit_s} s"
}

redis_stop() {
  local dir=$1 pid
  [ -f "$dir/server.pid" ] || return 0
  pid=$(cat "$dir/server.pid")
  if alive "$pid"; then
    timeout 10 redis-cli -h 127.0.0.1 -p "$(cat "$dir/port")" shutdown nosave >/dev/null 2>&1 || true
    wait_exit "$pid" 10 || kill "$pid" 2>/dev/null || true
    wait_exit "$pid" 10 || kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/server.pid"
}

[ $# -eq 3 ] || die "usage: servers.sh start|stop rabbitmq|redis DIR"
action=$1 server=$2 dir=$3
case "$server" in rabbitmq|redis) ;; *) die "unknown server '$server' (rabbitmq|redis)" ;; esac
case "$action" in
  start) mkdir -p "$dir"; dir=$(cd "$dir" && pwd); "${server}_start" "$dir" ;;
  stop) [ -d "$dir" ] || exit 0; dir=$(cd "$dir" && pwd); "${server}_stop" "$dir" ;;
  *) die "unknown action '$action' (start|stop)" ;;
esac
