"""One typed configuration object, loaded once per process.

Precedence: dataclass defaults < TOML file (path in ``ABACO_CONFIG``) < environment variables of
the form ``ABACO__<SECTION>__<KEY>``. Every value is parsed into its declared type; an unknown
section or key, or a value of the wrong type, fails at start-up with one readable error.
The embedded defaults run the whole platform on one machine with no file at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
import re
import tomllib
import typing
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .enums import PullPolicy
from .errors import ConfigError, ValidationError
from .mounts import check_template

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
    "MAX_LEEWAY",
    "HostConfig",
    "SpawnerConfig",
    "WorkerConfig",
    "HealthConfig",
    "EventsConfig",
    "LogConfig",
    "MetricsConfig",
    "load_config",
    "with_credentials",
]

ENV_PREFIX = "ABACO__"
MAX_LEEWAY = 300  # the most clock skew (seconds) a token's time claims are given
MAX_IDEMPOTENCY_WINDOW = 30 * 86400  # seconds an Idempotency-Key is remembered, at most
MAX_SYNC_WAITS = 4096  # synchronous calls one messages process may hold (one thread each)
MAX_BINARY_LENGTH = 1 << 30  # waitress's own request body limit
MAX_SOCKET_DIR = 64  # <socket_dir>/<worker id>/<execution id>.sock must fit a Unix socket path
TOKEN_ALGORITHMS = ("HS256", "RS256")
_TENANT_RE = re.compile(r"[A-Za-z0-9.-]{1,64}")  # no "_": record keys are "<tenant>_<id>"
_T = typing.TypeVar("_T")


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
    if not sep or not sep2 or not path or not _TENANT_RE.fullmatch(tenant) or alg not in TOKEN_ALGORITHMS:
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


def _parse(value: object, typ: object, where: str) -> object:
    """Coerce a file or environment value into the declared field type."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif typ is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(typ) is tuple:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    raise ConfigError(f"config {where}: expected {getattr(typ, '__name__', typ)}, got {value!r}")


def _section_types(section_cls: type) -> dict[str, object]:
    return typing.get_type_hints(section_cls)


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` inserted, unless it has credentials or no password is set."""
    parts = urllib.parse.urlsplit(url)
    if not password or parts.username is not None:
        return url
    userinfo = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@"
    return urllib.parse.urlunsplit(parts._replace(netloc=userinfo + parts.netloc))


def _read_secret(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _with_password(section: _T, data_dir: str, name: str) -> _T:
    """Fill a section's ``password_file`` default and, when no password is set, read it from there."""
    path = section.password_file or os.path.join(data_dir, "secrets", f"{name}_password")  # type: ignore[attr-defined]
    password = section.password or _read_secret(path)  # type: ignore[attr-defined]
    return dataclasses.replace(section, password_file=path, password=password)  # type: ignore[type-var]


def _environment(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def load_config(path: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the Config from defaults, an optional TOML file and ``ABACO__*`` variables."""
    env = _environment(env)
    path = path or env.get("ABACO_CONFIG") or None
    raw: dict[str, dict[str, object]] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                loaded = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        for section, values in loaded.items():
            if not isinstance(values, dict):
                raise ConfigError(f"config file {path}: [{section}] must be a table")
            raw.setdefault(section, {}).update(values)
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2:
            raise ConfigError(f"environment variable {key}: expected ABACO__<SECTION>__<KEY>")
        raw.setdefault(parts[0], {})[parts[1]] = value

    sections = {f.name: f for f in dataclasses.fields(Config)}
    top_types = typing.get_type_hints(Config)
    built: dict[str, object] = {}
    for name, values in raw.items():
        if name not in sections:
            raise ConfigError(f"unknown config section [{name}]; known: {', '.join(sorted(sections))}")
        section_cls = top_types[name]
        types = _section_types(section_cls)
        kwargs = {}
        for field_name, given in values.items():
            if field_name not in types:
                known = ", ".join(sorted(types))
                raise ConfigError(f"unknown config key {name}.{field_name}; known: {known}")
            kwargs[field_name] = _parse(given, types[field_name], f"{name}.{field_name}")
        built[name] = section_cls(**kwargs)
    cfg = Config(**built)  # type: ignore[arg-type]
    return _derive_paths(cfg, env)


def _derive_paths(cfg: Config, env: Mapping[str, str]) -> Config:
    home = cfg.general.home or env.get("ABACO_HOME") or os.getcwd()
    data_dir = cfg.general.data_dir or os.path.join(home, ".data")
    install_id = cfg.general.install_id or hashlib.sha256(data_dir.encode()).hexdigest()[:12]
    general = dataclasses.replace(cfg.general, home=home, data_dir=data_dir, install_id=install_id)
    general = dataclasses.replace(
        general, config_key_file=general.config_key_file or os.path.join(data_dir, "secrets", "config_key")
    )
    _validate(cfg)
    auth = _derive_auth(cfg.auth, home, data_dir)
    events = dataclasses.replace(
        cfg.events, webhook_key_file=cfg.events.webhook_key_file or os.path.join(data_dir, "secrets", "webhook_key")
    )
    spawner = dataclasses.replace(
        cfg.spawner,
        registry_auth_file=cfg.spawner.registry_auth_file or os.path.join(data_dir, "secrets", "registries.json"),
        queues=cfg.spawner.queues or cfg.spawner.host_queues,
    )
    return dataclasses.replace(
        cfg,
        general=general,
        auth=auth,
        events=events,
        spawner=spawner,
        mongo=_with_password(cfg.mongo, data_dir, "mongo"),
        redis=_with_password(cfg.redis, data_dir, "redis"),
        rabbit=_with_password(cfg.rabbit, data_dir, "rabbit"),
    )


def _derive_auth(auth: AuthConfig, home: str, data_dir: str) -> AuthConfig:
    """Key file defaults under the data dir; tenant key paths made absolute (relative to home)."""
    keys = tuple(
        str(TenantKey(k.tenant, k.alg, os.path.join(home, os.path.expanduser(k.path)))) for k in auth.tenant_key_list()
    )
    return dataclasses.replace(
        auth,
        jwt_secret_file=auth.jwt_secret_file or os.path.join(data_dir, "jwt_secret"),
        v2_public_key_file=auth.v2_public_key_file or os.path.join(data_dir, "v2_keys", "public.pem"),
        tenant_keys=keys,
    )


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _validate_auth(cfg: Config) -> None:
    auth = cfg.auth
    if auth.access_control not in ("jwt", "none"):
        raise ConfigError("config auth.access_control must be 'jwt' or 'none'")
    if auth.access_control == "none" and not _is_loopback(cfg.http.host):
        raise ConfigError(
            f"config auth.access_control = 'none' (no authentication) is for development only: "
            f"http.host must be a loopback address, not {cfg.http.host!r}"
        )
    if not 0 <= auth.leeway <= MAX_LEEWAY:
        raise ConfigError(f"config auth.leeway must be between 0 and {MAX_LEEWAY} seconds")
    if auth.token_ttl < 1 or auth.actor_token_ttl < 1:
        raise ConfigError("config auth.token_ttl and auth.actor_token_ttl must be at least 1 second")
    tenants = [k.tenant for k in auth.tenant_key_list()]
    if len(set(tenants)) != len(tenants):
        raise ConfigError("config auth.tenant_keys names a tenant more than once")
    seen: dict[str, str] = {}
    for level in ("admin", "privileged", "user", "limited"):
        for name in getattr(auth, f"{level}_roles"):
            if seen.setdefault(name, level) != level:
                raise ConfigError(f"config auth: role name {name!r} is in both {seen[name]}_roles and {level}_roles")


def _validate_events(ev: EventsConfig) -> None:
    if not 0 < ev.webhook_timeout <= 60:
        raise ConfigError("config events.webhook_timeout must be more than 0 and at most 60 seconds")
    if not 1 <= ev.webhook_attempts <= 20:
        raise ConfigError("config events.webhook_attempts must be between 1 and 20")
    if ev.webhook_backoff < 0 or ev.webhook_backoff_max < ev.webhook_backoff:
        raise ConfigError("config events.webhook_backoff must be at least 0 and at most events.webhook_backoff_max")
    if not 1 <= ev.threads <= 64 or ev.prefetch < ev.threads:
        raise ConfigError("config events.threads must be between 1 and 64, and events.prefetch at least threads")


def _validate(cfg: Config) -> None:
    _validate_auth(cfg)
    if cfg.spawner.pull_policy not in {p.value for p in PullPolicy}:
        raise ConfigError("config spawner.pull_policy must be 'if-not-present', 'always' or 'never'")
    if not cfg.spawner.host_queues:
        raise ConfigError("config spawner.host_queues must name at least one queue")
    sp = cfg.spawner
    if not 1 <= sp.max_parallel_spawns <= 64 or sp.command_prefetch < sp.max_parallel_spawns:
        raise ConfigError(
            "config spawner.max_parallel_spawns must be between 1 and 64, and spawner.command_prefetch at least that"
        )
    if sp.start_timeout < sp.worker_ready_timeout:
        raise ConfigError("config spawner.start_timeout must be at least spawner.worker_ready_timeout")
    if cfg.health.spawning_grace < cfg.health.startup_timeout:
        raise ConfigError("config health.spawning_grace must be at least health.startup_timeout")
    for template in cfg.worker.global_mounts + cfg.worker.privileged_mounts:
        try:
            check_template(template, cfg.worker.mount_roots)
        except ValidationError as exc:
            raise ConfigError(f"config worker mounts: {exc}") from None
    if cfg.http.threads < 1:
        raise ConfigError("config http.threads must be at least 1")
    if not 1 <= cfg.http.processes <= 64:
        raise ConfigError("config http.processes must be 1 to 64")
    if cfg.spawner.max_workers_per_tenant < 0 or cfg.spawner.max_workers_per_user < 0:
        raise ConfigError(
            "config spawner.max_workers_per_tenant and max_workers_per_user must be 0 (unlimited) or more"
        )
    if not 1 <= cfg.health.autoscale_interval <= 60 or cfg.health.max_scale_up < 1:
        raise ConfigError("config health.autoscale_interval must be 1 to 60 seconds and health.max_scale_up at least 1")
    if cfg.health.worker_idle_ttl < 0 or cfg.health.sync_max_idle_time < 0:
        raise ConfigError("config health.worker_idle_ttl and health.sync_max_idle_time must be at least 0")
    if not 1 <= cfg.health.cron_interval <= 60:
        raise ConfigError("config health.cron_interval must be 1 to 60 seconds (cron has minute slots)")
    if not 0.5 <= cfg.http.store_timeout <= 60:
        raise ConfigError("config http.store_timeout must be 0.5 to 60 seconds")
    if not 60 <= cfg.http.idempotency_window <= MAX_IDEMPOTENCY_WINDOW:
        raise ConfigError(f"config http.idempotency_window must be 60 to {MAX_IDEMPOTENCY_WINDOW} seconds")
    if cfg.http.case not in ("snake", "camel"):
        raise ConfigError("config http.case must be 'snake' or 'camel'")
    if cfg.http.max_sync_waits < 1 or cfg.http.max_sync_waits_per_user < 1:
        raise ConfigError("config http.max_sync_waits and http.max_sync_waits_per_user must be at least 1")
    if not 1 <= min(cfg.http.max_log_follows, cfg.http.max_log_follows_per_user, cfg.http.log_follow_timeout):
        raise ConfigError(
            "config http.max_log_follows, http.max_log_follows_per_user and http.log_follow_timeout must be at least 1"
        )
    if cfg.http.max_log_follows > MAX_SYNC_WAITS:  # each one holds a thread of the registration API
        raise ConfigError(f"config http.max_log_follows must be at most {MAX_SYNC_WAITS}")
    if cfg.worker.live_log_interval < 0:
        raise ConfigError("config worker.live_log_interval must be 0 (off) or a positive number of seconds")
    if cfg.http.max_sync_waits > MAX_SYNC_WAITS:  # each one holds a thread of the messages API
        raise ConfigError(f"config http.max_sync_waits must be at most {MAX_SYNC_WAITS}")
    if cfg.redis.max_connections < cfg.http.threads + cfg.http.max_sync_waits + 16:  # each wait holds one
        raise ConfigError(
            "config redis.max_connections must be at least http.threads + http.max_sync_waits + 16 "
            f"({cfg.http.threads + cfg.http.max_sync_waits + 16})"
        )
    if not 1 <= cfg.http.max_binary_length <= MAX_BINARY_LENGTH:
        raise ConfigError(f"config http.max_binary_length must be 1 to {MAX_BINARY_LENGTH} bytes")
    if cfg.http.sync_timeout < 1:
        raise ConfigError("config http.sync_timeout must be at least 1 second")
    if cfg.worker.max_results < 1 or cfg.worker.max_result_bytes < 1:
        raise ConfigError("config worker.max_results and worker.max_result_bytes must be at least 1")
    if len(cfg.worker.socket_dir) > MAX_SOCKET_DIR:  # a Unix socket path has at most 107 bytes
        raise ConfigError(f"config worker.socket_dir must be at most {MAX_SOCKET_DIR} characters long")
    _validate_events(cfg.events)
    if cfg.log.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("config log.level must be DEBUG, INFO, WARNING or ERROR")
    if cfg.metrics.access not in ("admin", "loopback"):
        raise ConfigError("config metrics.access must be 'admin' or 'loopback'")
    if not 0 <= cfg.metrics.max_mailboxes <= 10_000:
        raise ConfigError("config metrics.max_mailboxes must be between 0 and 10000")
    if not all(_TENANT_RE.fullmatch(t) for t in cfg.metrics.operator_tenants):
        raise ConfigError("config metrics.operator_tenants: tenant ids are letters, digits, '-' and '.'")
