"""The configuration's sections: one frozen dataclass each, with its defaults, and the limits
the loader checks them against. The embedded defaults run the whole platform on one machine."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

__all__ = [
    "Config",
    "GeneralConfig",
    "HttpConfig",
    "MongoConfig",
    "RedisConfig",
    "RabbitConfig",
    "AuthConfig",
    "TenantKey",
    "parse_tenant_key",
    "HostConfig",
    "SpawnerConfig",
    "WorkerConfig",
    "HealthConfig",
    "EventsConfig",
    "LogConfig",
    "MetricsConfig",
    "MAX_LEEWAY",
    "MAX_IDEMPOTENCY_WINDOW",
    "MAX_SYNC_WAITS",
    "MAX_BINARY_LENGTH",
    "MAX_SOCKET_DIR",
    "TOKEN_ALGORITHMS",
    "TENANT_RE",
    "with_credentials",
]

MAX_LEEWAY = 300  # the most clock skew (seconds) a token's time claims are given
MAX_IDEMPOTENCY_WINDOW = 30 * 86400  # seconds an Idempotency-Key is remembered, at most
MAX_SYNC_WAITS = 4096  # synchronous calls one messages process may hold (one thread each)
MAX_BINARY_LENGTH = 1 << 30  # waitress's own request body limit
MAX_SOCKET_DIR = 64  # <socket_dir>/<worker id>/<execution id>.sock must fit a Unix socket path
TOKEN_ALGORITHMS = ("HS256", "RS256")
TENANT_RE = re.compile(r"[A-Za-z0-9.-]{1,64}")  # no "_": record keys are "<tenant>_<id>"


@dataclass(frozen=True)
class GeneralConfig:
    version: str = "1.0.0"
    home: str = ""  # the install root; defaults to $ABACO_HOME or the current directory
    data_dir: str = ""  # defaults to <home>/.data
    api_server: str = "http://127.0.0.1:8000"
    default_tenant: str = "dev"
    install_id: str = ""  # labels this install's containers; defaults to a hash of data_dir
    config_key_file: str = ""  # Fernet key of secret actor configs; defaults to <data_dir>/secrets/config_key


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    registration_port: int = 5001
    messages_port: int = 5002
    admin_port: int = 5003
    threads: int = 8
    # processes of the registration and messages APIs on their port (one waitress process uses
    # one core at most); the admin API runs one
    processes: int = 2
    # each of those processes on a core of its own (the registration API's from the first core,
    # the messages API's after them, wrapping around): its threads then pass the GIL to each other
    # on one core instead of fighting for it across two (prefork); not in a cgroup with a CPU
    # limit (a container that sees its host's cores, as its neighbours do)
    pin_processes: bool = True
    max_content_length: int = 500_000_000
    # a string or JSON message travels in the container's MSG variable, and Linux caps one
    # environment string at 128 KiB; larger payloads are for binary messages
    max_message_length: int = 120_000
    # a binary (application/octet-stream) message, streamed into the blob store; nginx's
    # client_max_body_size (etc/nginx.conf) must allow it
    max_binary_length: int = 500_000_000
    sync_timeout: int = 120  # seconds a ?_abaco_synchronous=true call waits (below nginx's 300 s)
    # synchronous calls waiting at once in one messages process (more get a 429 at once); the
    # messages API serves with threads + max_sync_waits threads, so waits never take the
    # `threads` that answer everything else
    max_sync_waits: int = 256
    max_sync_waits_per_user: int = 200  # per tenant and user: one caller cannot take them all
    # GET .../logs?follow=true streams held at once in one registration process (more get a
    # 429), per tenant and user, and for at most log_follow_timeout seconds (below nginx's
    # 300 s read timeout: a stream may stay silent); registration serves with threads +
    # max_log_follows threads
    max_log_follows: int = 8
    max_log_follows_per_user: int = 2
    log_follow_timeout: int = 240
    show_traceback: bool = False
    # an API request that meets an unreachable MongoDB answers 503 (with Retry-After) after this
    # many seconds (its server selection timeout in the API processes; daemons wait outages out)
    store_timeout: float = 3.0
    # a repeated POST .../messages with the same Idempotency-Key (same actor and sender) within
    # this many seconds answers the first execution instead of running the message again
    idempotency_window: int = 86400
    case: str = "snake"  # or "camel": response keys in camelCase (reference 1.1); requests take both


@dataclass(frozen=True)
class MongoConfig:
    """MongoDB. ``user``/``password`` (or ``password_file``, generated at install) authenticate
    against ``auth_source``; a URL that carries its own credentials is used as it is."""

    url: str = field(default="mongodb://127.0.0.1:27017/?directConnection=true", repr=False)
    db: str = "abaco"
    timeout_ms: int = 5000
    user: str = "abaco"
    password: str = field(default="", repr=False)
    password_file: str = ""  # defaults to <data_dir>/secrets/mongo_password
    auth_source: str = "admin"


@dataclass(frozen=True)
class RedisConfig:
    """Redis, as the ACL user ``user`` (the default user is disabled by the install)."""

    url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    key_prefix: str = "abaco:"
    user: str = "abaco"
    password: str = field(default="", repr=False)
    password_file: str = ""  # defaults to <data_dir>/secrets/redis_password
    # connections one process may open (they are opened on demand): every synchronous call holds
    # one while it waits, so the messages API needs http.threads + http.max_sync_waits and some
    max_connections: int = 1024


@dataclass(frozen=True)
class RabbitConfig:
    """RabbitMQ: ``user`` on the vhost in ``url`` (the install removes ``guest``)."""

    url: str = field(default="amqp://127.0.0.1:5672/abaco", repr=False)
    connect_retries: int = 5
    # a publish RabbitMQ has not confirmed after this many seconds fails (a daemon's; an API
    # waits at most http.store_timeout, then answers 503)
    confirm_timeout: float = 30.0
    queue_prefix: str = ""  # lets tests and several installs share one broker
    user: str = "abaco"
    password: str = field(default="", repr=False)
    password_file: str = ""  # defaults to <data_dir>/secrets/rabbit_password

    def broker_url(self) -> str:
        """The AMQP URL with this config's credentials (unless the URL carries its own)."""
        return with_credentials(self.url, self.user, self.password)


@dataclass(frozen=True)
class AuthConfig:
    """Who is calling (README "Authentication"): tokens, their keys, and the role names they carry."""

    access_control: str = "jwt"  # or "none": development only (loopback http.host), everyone is admin "anonymous"
    jwt_secret_file: str = ""  # the default HS256 secret; defaults to <data_dir>/jwt_secret
    issuer: str = "abaco"
    token_ttl: int = 86400
    leeway: int = 30  # seconds of clock skew allowed on exp/nbf/iat; at most MAX_LEEWAY
    # "<tenant>=<HS256|RS256>:<key file>": HS256 a secret file; RS256 a PEM private key (mint and
    # verify) or public key or certificate (verify only). Other tenants use jwt_secret_file.
    tenant_keys: tuple[str, ...] = ()
    # WSO2 APIM's RS256 key for v2 X-Jwt-Assertion-<tenant> headers; defaults to
    # <data_dir>/v2_keys/public.pem (install.sh makes a development pair); no file turns v2 off
    v2_public_key_file: str = ""
    v2_user_claim: str = "http://wso2.org/claims/enduser"
    v2_roles_claim: str = "http://wso2.org/claims/role"
    # role names in tokens -> Abaco roles (our names, then v2's, then v3's)
    admin_roles: tuple[str, ...] = ("admin", "Internal/abaco-admin", "abaco_admin")
    privileged_roles: tuple[str, ...] = ("privileged", "Internal/abaco-privileged", "abaco_privileged")
    user_roles: tuple[str, ...] = ("user", "Internal/abaco-user")
    limited_roles: tuple[str, ...] = ("limited", "Internal/abaco-limited")
    # actor tokens (actors with `token` on): clientg mints them for at most this many seconds,
    # and spawners, workers and health wait this long for clientg's answer
    actor_token_ttl: int = 900
    clientg_timeout: float = 10.0

    def tenant_key_list(self) -> list[TenantKey]:
        return [parse_tenant_key(entry) for entry in self.tenant_keys]


@dataclass(frozen=True)
class TenantKey:
    tenant: str
    alg: str
    path: str

    def __str__(self) -> str:
        return f"{self.tenant}={self.alg}:{self.path}"


def parse_tenant_key(entry: str) -> TenantKey:
    """``"<tenant>=<HS256|RS256>:<key file>"``; the tenant is case-insensitive (kept lower-case)."""
    tenant, sep, rest = entry.partition("=")
    alg, sep2, path = rest.partition(":")
    tenant, alg, path = tenant.strip().lower(), alg.strip().upper(), path.strip()
    if not sep or not sep2 or not path or not TENANT_RE.fullmatch(tenant) or alg not in TOKEN_ALGORITHMS:
        raise ConfigError(
            f"config auth.tenant_keys: {entry!r} is not '<tenant>=<HS256|RS256>:<key file>' "
            "(tenant: letters, digits, '-' or '.')"
        )
    return TenantKey(tenant, alg, path)


@dataclass(frozen=True)
class HostConfig:
    """Who this compute host is: its id (unique among hosts), address and Docker engine."""

    host_id: str = "local"
    host_ip: str = "127.0.0.1"
    docker_url: str = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class SpawnerConfig:
    host_queues: tuple[str, ...] = ("default",)  # the command queues this host's spawner serves
    # every queue of the deployment, the names an actor's ``queue`` may take (the APIs check it);
    # () is host_queues (one host). With hosts serving other queues, list them all here.
    queues: tuple[str, ...] = ()
    max_workers_per_host: int = 100  # an idle worker holds ~21 MiB (PSS) and no CPU
    max_workers_per_actor: int = 20
    # workers alive or on their way (REQUESTED .. BUSY) one tenant / one owner may have; 0 is
    # unlimited. Checked by the autoscaler, POST workers and cold starts (see README "Workers")
    max_workers_per_tenant: int = 200
    max_workers_per_user: int = 50
    worker_ready_timeout: float = 30.0
    pull_policy: str = "if-not-present"  # or "always", or "never" (local images only: air-gapped hosts)
    pull_timeout: int = 30  # seconds a pull may go without progress before it fails
    pull_attempts: int = 2  # tries of a pull before the actor goes to ERROR
    pull_backoff: float = 2.0  # seconds before the next try
    max_parallel_pulls: int = 4  # pulls run beside the command consumer, never on it
    # a command is acked once its worker is READY or has definitely failed, so a spawner killed
    # at any point gets it again and resumes the start; meanwhile it holds a prefetch slot
    max_parallel_spawns: int = 8  # worker starts (launch, then the wait for READY) at once
    command_prefetch: int = 100  # commands held unacked at once (starting, pulling or queued)
    start_timeout: float = 120.0  # the longest a command waits for its worker (a pull included)
    # private registries' credentials, in Docker's config.json shape (``registries``); read at each
    # pull, by the spawner only; defaults to <data_dir>/secrets/registries.json (none if missing)
    registry_auth_file: str = ""
    # fork workers from a parent that has imported everything (abaco_worker.zygote): a new worker
    # is READY sooner and shares the imported modules' memory; false starts each from scratch
    zygote: bool = True


@dataclass(frozen=True)
class WorkerConfig:
    network: str = "host"
    max_log_length: int = 1_000_000
    cgroup_parent: str = "/abaco"  # becomes /abaco/<worker> (cgroupfs) or abaco-<worker>.slice (systemd)
    cgroup_root: str = "/sys/fs/cgroup"
    leave_containers: bool = False
    max_run_time: int = -1  # seconds; -1 is unlimited
    max_run_time_limit: int = 7 * 86400  # the most an actor may ask for, in seconds
    # how long an execution's logs (and results) are kept: an actor's own log_ex, else log_ex;
    # 0 keeps them until the actor is deleted. An actor may ask for at most log_ex_limit seconds.
    log_ex: int = 0
    log_ex_limit: int = 10 * 365 * 86400
    max_attempts: int = 3  # runs of one message before its execution is ended as ERROR
    retry_delay: float = 1.0  # seconds before a message whose container did not start is retried
    max_failures: int = 5  # unexpected failures in a row before a worker gives up and exits
    stop_grace: int = 10  # seconds a container gets between SIGTERM and SIGKILL
    # a container that has exited is never run again: its result is saved with back-off (1 s, up
    # to 10 s apart) for up to this many seconds while MongoDB is down; after that the container
    # is kept and its message handed back, and the worker that gets it adopts the container
    save_retry_for: float = 300.0
    # a container still running after this many seconds has its output copied to its logs record
    # every this many seconds while it runs (GET .../logs shows it); 0: only at exit
    live_log_interval: float = 1.0
    # -- what an actor container may use and reach (an actor's own mem_limit/max_cpus win) ----
    mem_limit: str = "1g"  # "" is unlimited
    max_cpus: int = 1_000_000_000  # nano-CPUs (1 CPU); 0 is unlimited
    pids_limit: int = 512  # processes and threads; 0 is unlimited
    uid: int = 65534  # actor containers run as uid:gid (nobody) unless the actor uses the image's user
    gid: int = 65534
    read_only_root: bool = True  # the image's filesystem read-only; /tmp is a small tmpfs
    tmp_size: str = "64m"
    log_max_size: str = "10m"  # Docker's own json log of a container
    mount_roots: tuple[str, ...] = ()  # host directories that mounts may lie under
    global_mounts: tuple[str, ...] = ()  # "host:container:ro|rw", {username} {tenant_id} {actor_id}
    privileged_mounts: tuple[str, ...] = ()  # added for privileged actors
    docker_socket: str = "/var/run/docker.sock"  # mounted into privileged actors only
    # -- results: datagrams an execution sends to /_abaco_results.sock (abaco_shared.results) ----
    socket_dir: str = ""  # <socket_dir>/<worker>/<execution>.sock on the host; "" is <data_dir>/sockets
    max_results: int = 1000  # datagrams kept per execution; more are dropped (and said so)
    max_result_bytes: int = 64 * 1024 * 1024  # bytes kept per execution; more are dropped
    # -- binary messages: the payload as a read-only file at /_abaco_binary_data (abaco_worker.binary)
    binary_dir: str = ""  # <binary_dir>/<worker>/<execution> on the host; "" is <data_dir>/binary


@dataclass(frozen=True)
class HealthConfig:
    interval: int = 30  # seconds between status pings to live workers
    reap_interval: int = 5  # seconds between checks for dead workers and orphan containers
    startup_timeout: int = 120  # a worker not READY this long after its request is reaped
    spawning_grace: int = 600  # ... unless a live spawner of this host is starting it: then this long
    lost_after: int = 300  # an unclaimed execution this old, with an empty mailbox, lost its message
    cron_interval: int = 10  # seconds between cron passes (a slot runs at most this late)
    sweep_interval: int = 60  # seconds between sweeps of leftover per-worker socket/binary directories
    # an actor container whose worker is gone is left for the worker that adopts its execution;
    # it is removed (and its execution ended) once it is older than its run-time limit plus this
    adoption_grace: int = 300
    # -- the autoscaler (abaco_health.autoscaler): stateless actors only ------------------------
    autoscaling: bool = True
    autoscale_interval: int = 2  # seconds between passes
    max_scale_up: int = 5  # workers one pass may request for one actor
    worker_idle_ttl: int = 300  # a READY worker idle this long is stopped (down to min_workers)
    sync_max_idle_time: int = 600  # an actor hinted "sync" keeps one worker while active this recently


@dataclass(frozen=True)
class EventsConfig:
    """The events agent (README "Events, links and webhooks"): webhook signing and delivery."""

    # the key each actor's webhook secret is derived from (HMAC-SHA256); when empty it is read
    # from webhook_key_file (default <data_dir>/secrets/webhook_key), which is made if missing
    webhook_key: str = field(default="", repr=False)
    webhook_key_file: str = ""
    webhook_timeout: float = 5.0  # seconds to connect, and to wait for the answer, per POST
    webhook_attempts: int = 5  # tries of one POST (connection errors, timeouts, 429 and 5xx)
    webhook_backoff: float = 1.0  # seconds before the 2nd try, doubled before each next (1, 2, 4, 8)
    webhook_backoff_max: float = 60.0  # the longest pause between tries (also caps Retry-After)
    threads: int = 4  # deliveries at once; a delivery waiting to be retried takes none
    prefetch: int = 64  # events taken from the queue and not yet settled


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"


@dataclass(frozen=True)
class MetricsConfig:
    """``GET /metrics`` (admin API): an admin token sees its tenant's actors, workers and
    executions (admins of ``operator_tenants``: every tenant's)."""

    access: str = "admin"  # or "loopback": callers on this host (through nginx too) need no token
    operator_tenants: tuple[str, ...] = ()
    max_mailboxes: int = 200  # mailbox lengths read per scrape (one broker round trip each)


@dataclass(frozen=True)
class Config:
    general: GeneralConfig = field(default_factory=GeneralConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    mongo: MongoConfig = field(default_factory=MongoConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    rabbit: RabbitConfig = field(default_factory=RabbitConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    host: HostConfig = field(default_factory=HostConfig)
    spawner: SpawnerConfig = field(default_factory=SpawnerConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.general.data_dir)

    @property
    def jwt_secret_path(self) -> Path:
        return Path(self.auth.jwt_secret_file)


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` inserted, unless it has credentials or no password is set."""
    parts = urllib.parse.urlsplit(url)
    if not password or parts.username is not None:
        return url
    userinfo = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@"
    return urllib.parse.urlunsplit(parts._replace(netloc=userinfo + parts.netloc))
