#!/usr/bin/env bash
# Stop the local stack (what `make down` runs); safe to run when nothing is up.
#   1. stop the abaco services (the spawner first, so no new workers appear)
#   2. stop leftover worker processes of this clone (command line has `-m abaco_worker`)
#   3. remove leftover actor containers of this install (label abaco.install) while docker answers
#   4. supervisorctl shutdown: infra too, including dockerd if it was ours; wait for exit
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
CTL=("$HERE/.venv/bin/supervisorctl" -c "$HERE/supervisord.conf")

say() { echo "down: $*"; }
supervisord_pid() { [ -x "${CTL[0]}" ] && "${CTL[@]}" pid 2>/dev/null | grep -E '^[0-9]+$'; }
alive() {  # a zombie (PID 1 here does not reap) counts as gone
  local st
  st="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [ -n "$st" ] && [[ "$st" != Z* ]]
}
wait_gone() {  # seconds pid...
  local limit="$1" p; shift
  local deadline=$((SECONDS + limit))
  while [ "$SECONDS" -lt "$deadline" ]; do
    local any=""
    for p in "$@"; do alive "$p" && any=1; done
    [ -z "$any" ] && return 0
    sleep 0.5
  done
  return 1
}

sd_pid="$(supervisord_pid || true)"
if [ -n "$sd_pid" ]; then
  "${CTL[@]}" stop abaco:spawner abaco:spawner-special >/dev/null 2>&1 || true
  "${CTL[@]}" stop abaco:* >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- worker processes
worker_pids() {
  local p env_home
  for p in $(pgrep -f -- '-m abaco_worker|bin/abaco-worker' || true); do
    [ "$p" = "$$" ] && continue
    # leave alone the workers of another clone
    env_home="$(tr '\0' '\n' 2>/dev/null < "/proc/$p/environ" | sed -n 's/^ABACO_HOME=//p' | head -n 1)"
    [ -z "$env_home" ] || [ "$env_home" = "$HERE" ] || continue
    alive "$p" && echo "$p"
  done
}
pids="$(worker_pids | tr '\n' ' ')"
if [ -n "${pids// /}" ]; then
  say "stopping worker processes: $pids"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  # shellcheck disable=SC2086
  if ! wait_gone 15 $pids; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
fi

# ---------------------------------------------------------------- actor containers
if docker info >/dev/null 2>&1; then
  # only this install's containers (the label is a hash of its data dir, as in config.install_id)
  install_id="$(printf '%s' "$HERE/.data" | sha256sum | cut -c1-12)"
  ids="$(docker ps -aq --filter "label=abaco.install=$install_id" 2>/dev/null | tr '\n' ' ')"
  if [ -n "${ids// /}" ]; then
    say "removing actor containers: $ids"
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null 2>&1 || true
  fi
fi

# ---------------------------------------------------------------- supervisord
if [ -n "$sd_pid" ]; then
  "${CTL[@]}" shutdown >/dev/null 2>&1 || true
  if ! wait_gone 90 "$sd_pid"; then
    say "supervisord (pid $sd_pid) did not exit in 90 s; sending TERM to it"
    kill -TERM "$sd_pid" 2>/dev/null || true
    wait_gone 15 "$sd_pid" || kill -KILL "$sd_pid" 2>/dev/null || true
  fi
  say "stopped (supervisord pid $sd_pid)"
else
  say "supervisord is not running"
fi
rm -f "$HERE/.data/run/supervisor.sock"
exit 0
