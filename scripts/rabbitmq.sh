#!/usr/bin/env bash
# Run a RabbitMQ tool (server or CLI) against the repo-local node.
#   scripts/rabbitmq.sh server                 # foreground broker (supervisord program)
#   scripts/rabbitmq.sh ctl status             # rabbitmqctl
#   scripts/rabbitmq.sh diagnostics -q check_running
# Runs as root with every runtime file under .data/rabbitmq, bound to loopback.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$HERE/.data/rabbitmq"
mkdir -p "$DATA/home" "$DATA/mnesia" "$DATA/log"

export HOME="$DATA/home"                     # the Erlang cookie lives here
export RABBITMQ_CONF_ENV_FILE=/dev/null      # ignore /etc/rabbitmq/rabbitmq-env.conf
# etc/rabbitmq/rabbitmq.conf plus the platform user, written by scripts/install.sh (mode 0600)
export RABBITMQ_CONFIG_FILE="$DATA/rabbitmq.conf"
export RABBITMQ_ADVANCED_CONFIG_FILE="$HERE/etc/rabbitmq/advanced.config"
export RABBITMQ_ENABLED_PLUGINS_FILE="$DATA/enabled_plugins"
export RABBITMQ_NODENAME="${RABBITMQ_NODENAME:-rabbit@localhost}"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="${RABBITMQ_NODE_PORT:-5672}"
export RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-25672}"
export RABBITMQ_MNESIA_BASE="$DATA/mnesia"
export RABBITMQ_LOG_BASE="$DATA/log"
export RABBITMQ_PID_FILE="$DATA/rabbit.pid"
export ERL_CRASH_DUMP="$DATA/erl_crash.dump"
export ERL_EPMD_ADDRESS=127.0.0.1
export ERL_EPMD_PORT="${ERL_EPMD_PORT:-4369}"
# epmd runs as its own supervisord program; keep distribution on loopback.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-start_epmd false"
[ -f "$RABBITMQ_ENABLED_PLUGINS_FILE" ] || echo '[].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"

tool="${1:?usage: rabbitmq.sh server|ctl|diagnostics|plugins [args...]}"; shift
case "$tool" in
  server)      exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@" ;;
  ctl)         exec /usr/lib/rabbitmq/bin/rabbitmqctl "$@" ;;
  diagnostics) exec /usr/lib/rabbitmq/bin/rabbitmq-diagnostics "$@" ;;
  plugins)     exec /usr/lib/rabbitmq/bin/rabbitmq-plugins "$@" ;;
  *) echo "rabbitmq.sh: unknown tool '$tool'" >&2; exit 2 ;;
esac
