#!/usr/bin/env bash
# Bring the whole local stack up (what `make up` runs); safe to run again at any time.
#   1. scripts/install.sh (packages, mongod, .venv, secrets; skips what is done)
#   2. supervisord (through scripts/supervisord-launch.py) or, if running, update + start
#   3. dockerd as a supervisord program, only when no docker daemon answers
#   4. waits for mongod (and its users), rabbitmq (an AMQP login), redis, docker
#   5. scripts/build-images.sh (skips existing images)
#   6. starts the services (abaco:*) and waits until all are RUNNING and the API behind nginx
#      answers GET /actors without a token with 401
# Env: UP_API_TIMEOUT (default 60 s), UP_SKIP_IMAGES=1 to skip step 5.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
export ABACO_HOME="$HERE"
LOGS="$HERE/.data/logs"
BASE_URL="http://127.0.0.1:8000"
CTL=("$HERE/.venv/bin/supervisorctl" -c "$HERE/supervisord.conf")

say() { echo "up: $*"; }
fail() {  # message [log file...]
  echo "up: ERROR: $1" >&2
  shift
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    echo "----- last lines of ${f#"$HERE"/} -----" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}
# wait_until SECONDS CMD... : true once CMD succeeds, false after SECONDS
wait_until() {
  local limit="$1"; shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
supervisord_pid() { "${CTL[@]}" pid 2>/dev/null | grep -E '^[0-9]+$'; }
prog_state() { { "${CTL[@]}" status "$1" 2>/dev/null || true; } | awk '{print $2}'; }

# ------------------------------------------------------------------------ install
bash "$HERE/scripts/install.sh"

/usr/sbin/nginx -q -t -p "$HERE/.data/nginx/" -e stderr -c "$HERE/etc/nginx.conf" 2>"$LOGS/nginx-test.log" \
  || fail "etc/nginx.conf does not pass 'nginx -t'" "$LOGS/nginx-test.log"

# ------------------------------------------------------------------------ supervisord
if supervisord_pid >/dev/null; then
  "${CTL[@]}" update >/dev/null
  # the infra but dockerd, which is only ours when no other daemon answers (below);
  # the services are started once the infra is ready
  "${CTL[@]}" start infra:epmd infra:mongod infra:redis infra:rabbitmq infra:nginx >/dev/null 2>&1 || true
  "${CTL[@]}" signal HUP infra:nginx >/dev/null 2>&1 || true   # pick up etc/nginx.conf changes
else
  rm -f "$HERE/.data/run/supervisor.sock"
  "$HERE/.venv/bin/python" "$HERE/scripts/supervisord-launch.py"
  wait_until 20 supervisord_pid \
    || fail "supervisord did not start" "$LOGS/supervisord.out" "$LOGS/supervisord.log"
  say "supervisord started (pid $(supervisord_pid))"
fi

# ------------------------------------------------------------------------ docker
if ! docker info >/dev/null 2>&1; then
  "${CTL[@]}" start infra:dockerd >/dev/null 2>&1 || true
  wait_until 60 docker info || fail "dockerd did not answer within 60 s" "$LOGS/dockerd.log"
  say "dockerd started under supervisord"
fi

# ------------------------------------------------------------------------ mongod
# exit status 3: the data directory was a replica set member and its replica set state was
# removed; mongod must start again (it keeps its TTL monitor off while that state is there)
mongo_ready() {
  "$HERE/.venv/bin/python" - "$HERE/.data/secrets/mongo_admin_password" <<'EOF'
# mongod ready, and the platform user. Until a first user exists, mongod (started with --auth,
# so access control is on) lets a loopback client do anything: that is how the users are
# created; from then on everything needs the credentials.
import sys, time
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError
from abaco_shared.config import load_config

cfg = load_config().mongo
if not cfg.password:
    sys.exit(f"up: no MongoDB password (expected in {cfg.password_file})")
URL = "mongodb://127.0.0.1:27017/?directConnection=true"
ADMIN_PW_FILE = sys.argv[1]
anon = MongoClient(URL, serverSelectionTimeoutMS=5000)
platform = MongoClient(URL, serverSelectionTimeoutMS=5000, username=cfg.user, password=cfg.password,
                       authSource=cfg.auth_source)
deadline = time.monotonic() + 60
while True:
    try:
        try:
            platform.admin.command("ping")
            client = platform
        except OperationFailure:  # no user yet: the localhost exception applies
            client = anon
        if client.admin.command("isMaster").get("ismaster"):  # 4.0 has no "hello"
            if client is anon:
                # the first user must be able to create others: an administrator (root), whose
                # password stays in .data/secrets for operators; it then creates the platform user
                admin_pw = open(ADMIN_PW_FILE).read().strip()
                anon.admin.command("createUser", "admin", pwd=admin_pw, roles=["root"])
                admin = MongoClient(URL, serverSelectionTimeoutMS=5000, username="admin", password=admin_pw,
                                    authSource="admin")
                admin.admin.command("createUser", cfg.user, pwd=cfg.password, roles=[
                    {"role": "readWrite", "db": cfg.db}, {"role": "dbAdmin", "db": cfg.db},
                    {"role": "clusterMonitor", "db": "admin"}])
                print(f"up: MongoDB users admin and {cfg.user} created; access control is on")
                continue
            break
    except PyMongoError as exc:
        last = exc
    if time.monotonic() > deadline:
        print(f"up: mongod is not ready: {locals().get('last')!r}", file=sys.stderr)
        sys.exit(1)
    time.sleep(1)
try:
    anon.abaco.actors.find_one()
    sys.exit("up: MongoDB still answers without credentials")
except OperationFailure:
    pass
# a data directory from when mongod ran as a one-node replica set: with that state present a
# standalone mongod never expires TTL-indexed records (logs, results, idempotency keys)
# (not even root may write there: a role for just that is made, used and dropped)
admin = MongoClient(URL, serverSelectionTimeoutMS=5000, username="admin",
                    password=open(ADMIN_PW_FILE).read().strip(), authSource="admin")
if admin.local["system.replset"].count_documents({}):
    role = "abacoLeaveReplicaSet"
    if not admin.admin.command("rolesInfo", role)["roles"]:
        admin.admin.command("createRole", role, roles=[], privileges=[
            {"resource": {"db": "local", "collection": "system.replset"}, "actions": ["remove"]}])
    admin.admin.command("grantRolesToUser", "admin", roles=[role])
    try:
        removed = admin.local["system.replset"].delete_many({}).deleted_count
    finally:
        admin.admin.command("revokeRolesFromUser", "admin", roles=[role])
        admin.admin.command("dropRole", role)
    if removed:
        print("up: the data directory was a replica set member: its replica set state is removed")
        sys.exit(3)
platform[cfg.db].command("profile", 0)  # a test killed midway may have left the profiler on
EOF
}
wait_until 60 tcp_open 27017 || fail "mongod is not listening on 127.0.0.1:27017 after 60 s" "$LOGS/mongod.log"
rc=0; mongo_ready || rc=$?
if [ "$rc" = 3 ]; then
  "${CTL[@]}" restart infra:mongod >/dev/null
  wait_until 60 tcp_open 27017 || fail "mongod did not start again within 60 s" "$LOGS/mongod.log"
  rc=0; mongo_ready || rc=$?
fi
[ "$rc" = 0 ] || fail "MongoDB did not become ready" "$LOGS/mongod.log"

# ------------------------------------------------------------------------ rabbitmq / redis
wait_until 90 tcp_open 5672 || fail "RabbitMQ is not listening on 127.0.0.1:5672 after 90 s" \
  "$LOGS/rabbitmq.log" "$LOGS/epmd.log"
# An AMQP handshake rather than `scripts/rabbitmq.sh diagnostics -q check_running`: the Erlang
# CLI leaves orphaned inet_gethost processes, which become zombies here (PID 1 reaps nothing).
amqp_ok() {
  "$HERE/.venv/bin/python" - <<'EOF'
import socket, sys
with socket.create_connection(("127.0.0.1", 5672), timeout=3) as s:
    s.settimeout(5)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    frame = s.recv(7)
sys.exit(0 if len(frame) == 7 and frame[0] == 1 else 1)  # 1 = method frame (connection.start)
EOF
}
wait_until 30 amqp_ok || fail "RabbitMQ accepts TCP on 5672 but does not speak AMQP" "$LOGS/rabbitmq.log"
# Ready means "accepts the platform's AMQP login", not "process started" nor "speaks AMQP": a
# starting broker answers the protocol header seconds before it lets anyone in. A refusal (wrong
# user, password or vhost: exit 2) is an answer; anything else (exit 1) is "not yet", waited out.
# The platform user on its vhost; an older node that still has guest is migrated (guest removed).
rabbit_login() {  # user password vhost: exit 0 when an AMQP login works, 2 when it is refused
  "$HERE/.venv/bin/python" - "$@" <<'EOF'
import sys
from amqp.exceptions import AccessRefused, NotAllowed
from kombu import Connection
user, password, vhost = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    with Connection(hostname="127.0.0.1", port=5672, userid=user, password=password, virtual_host=vhost,
                    connect_timeout=3) as conn:
        conn.ensure_connection(max_retries=0)
except (AccessRefused, NotAllowed):
    sys.exit(2)
except Exception:
    sys.exit(1)
EOF
}
rabbit_answers() {  # user password vhost: the broker accepts or refuses the login (not "not yet")
  local rc=0
  rabbit_login "$@" || rc=$?
  [ "$rc" -ne 1 ]
}
rabbit_refuses() {  # user password vhost: refused twice, 2 s apart (not a node finishing its boot)
  local rc=0
  rabbit_login "$@" || rc=$?
  [ "$rc" -eq 2 ] || return 1
  sleep 2
  rc=0
  rabbit_login "$@" || rc=$?
  [ "$rc" -eq 2 ]
}
RABBIT_PW="$(cat "$HERE/.data/secrets/rabbit_password")"
wait_until 60 rabbit_answers abaco "$RABBIT_PW" abaco \
  || fail "RabbitMQ speaks AMQP but neither accepts nor refuses a login after 60 s" "$LOGS/rabbitmq.log"
if rabbit_refuses abaco "$RABBIT_PW" abaco; then
  rmq() { "$HERE/scripts/rabbitmq.sh" ctl -q "$@" >>"$LOGS/install.log" 2>&1; }
  rmq add_vhost abaco || true
  rmq delete_user abaco || true
  printf '%s' "$RABBIT_PW" | rmq add_user abaco || fail "cannot add the RabbitMQ user" "$LOGS/install.log"
  rmq set_permissions -p abaco abaco '.*' '.*' '.*' || fail "cannot grant the RabbitMQ user" "$LOGS/install.log"
  say "RabbitMQ user abaco created on vhost abaco"
fi
if rabbit_login guest guest /; then
  "$HERE/scripts/rabbitmq.sh" ctl -q delete_user guest >>"$LOGS/install.log" 2>&1 || true
  rabbit_login guest guest / && fail "RabbitMQ still accepts guest" "$LOGS/install.log"
  say "RabbitMQ user guest removed"
fi
wait_until 30 rabbit_login abaco "$RABBIT_PW" abaco || fail "RabbitMQ refuses the platform user" "$LOGS/rabbitmq.log"
redis_ok() {
  [ "$(REDISCLI_AUTH="$(cat "$HERE/.data/secrets/redis_password")" \
       redis-cli --no-auth-warning --user abaco -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]
}
wait_until 30 redis_ok || fail "redis does not answer PING on 127.0.0.1:6379" "$LOGS/redis.log"
say "mongod, rabbitmq, redis and docker are ready"

# ------------------------------------------------------------------------ images
if [ -z "${UP_SKIP_IMAGES:-}" ]; then
  bash "$HERE/scripts/build-images.sh"
fi

# ------------------------------------------------------------------------ the API
SERVICES=(registration messages admin spawner health clientg events spawner-special health-special)
# one call for the group starts them side by side (one name at a time waits startsecs each)
"${CTL[@]}" start 'abaco:*' >/dev/null 2>&1 || true
[ "$(prog_state infra:nginx)" = RUNNING ] || "${CTL[@]}" start infra:nginx >/dev/null 2>&1 || true

api_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$BASE_URL/actors" 2>/dev/null || true; }
all_running() {
  local p
  for p in "${SERVICES[@]}"; do [ "$(prog_state "abaco:$p")" = RUNNING ] || return 1; done
}
api_ready() { all_running && [ "$(api_code)" = 401 ]; }
if ! wait_until "${UP_API_TIMEOUT:-60}" api_ready; then
  echo "up: ERROR: $BASE_URL/actors did not answer 401 (no token) within ${UP_API_TIMEOUT:-60} s; last HTTP code: $(api_code)" >&2
  "${CTL[@]}" status >&2 || true
  logs=()
  for svc in nginx:8000 registration:5001 messages:5002 admin:5003 spawner: health: clientg: events: spawner-special: health-special:; do
    name="${svc%%:*}" port="${svc#*:}" group=abaco
    [ "$name" = nginx ] && group=infra
    state="$(prog_state "$group:$name")"
    if [ "$state" != RUNNING ] || { [ -n "$port" ] && ! tcp_open "$port"; }; then
      echo "up: DOWN: $name (supervisord state ${state:-unknown}${port:+, port $port $(tcp_open "$port" && echo open || echo closed)})" >&2
      logs+=("$LOGS/$name.log")
    fi
  done
  fail "the API is not ready" "${logs[@]}"
fi

cat <<EOF
Abaco is up: $BASE_URL
  token:   $HERE/.venv/bin/abaco-admin token --user alice --tenant dev --role user
  try:     curl -H "Authorization: Bearer \$(.venv/bin/abaco-admin token --user alice --tenant dev --role user)" $BASE_URL/actors
  status:  make status     logs: .data/logs/     stop: make down
EOF
