"""Entry point of one worker process, started by a spawner with its ids in the environment."""

from __future__ import annotations

import os
import sys
import threading

from abaco_shared import actors, configs
from abaco_shared.channels import ClientsChannel
from abaco_shared.config import Config
from abaco_shared.configs import ConfigCipher
from abaco_shared.containers import DockerApi, DockerEngine
from abaco_shared.context import Context, warm_up, watch_versions
from abaco_shared.enginefacts import EngineFacts
from abaco_shared.events import EventPublisher
from abaco_shared.retry import RetryPolicy
from abaco_shared.runtime import EXIT_CONFIG
from abaco_shared.service import run_service
from abaco_shared.store import trust_indexes
from abaco_shared.waiters import CompletionSignals

from .access import AccessTokens, WorkerCredential
from .binary import BinaryPayloads
from .cgroups import cgroup_layout
from .confinement import Confinement, Placement, RunLimits
from .execution import ExecutionRunner
from .live_logs import LiveLogs
from .results import ResultLimits, ResultsReceiver
from .state import WorkerState
from .worker import ActorWorker, Heartbeat

__all__ = ["main", "build_worker"]


def build_worker(
    ctx: Context,
    docker: DockerApi,
    worker_id: str,
    actor_dbid: str,
    credential: WorkerCredential | None = None,
    clients: ClientsChannel | None = None,
    facts: EngineFacts | None = None,
) -> ActorWorker:
    """Assemble a worker and its execution runner from the process's connections
    (``credential``: the clientg credential the spawner gave it, for actor tokens; ``facts``:
    the engine's cgroup driver and version as the spawner knows them, else asked for)."""
    cfg: Config = ctx.cfg
    wcfg = cfg.worker
    driver, version = (facts.cgroup_driver, facts.cgroup_version) if facts else docker.cgroup_info()
    cgroup_parent, meter = cgroup_layout(driver, version, wcfg.cgroup_parent, worker_id, wcfg.cgroup_root)
    placement = Placement(
        worker_id=worker_id,
        host_id=cfg.host.host_id,
        install_id=cfg.general.install_id,
        api_server=cfg.general.api_server,
        network=wcfg.network,
        cgroup_parent=cgroup_parent,
    )
    limits = RunLimits.from_config(wcfg)
    confinement = Confinement.from_config(wcfg)
    policy = RetryPolicy(wcfg.max_attempts, wcfg.retry_delay, wcfg.max_failures)
    signals = CompletionSignals(ctx.redis, cfg.redis.key_prefix)
    tokens = AccessTokens(
        clients or ClientsChannel(ctx.broker), actor_dbid, worker_id, credential, cfg.auth.clientg_timeout
    )
    cipher = ConfigCipher.from_file(cfg.general.config_key_file)
    live_logs = LiveLogs(docker, wcfg.max_log_length, wcfg.live_log_interval)
    runner = ExecutionRunner(
        placement,
        limits,
        confinement,
        docker,
        meter,
        WorkerState(),
        signals,
        policy,
        tokens,
        cipher,
        live_logs,
        events=EventPublisher(ctx.broker),
        results=ResultsReceiver(
            wcfg.socket_dir or cfg.data_path / "sockets",
            worker_id,
            ResultLimits(wcfg.max_results, wcfg.max_result_bytes),
            signals,
        ),
        binary=BinaryPayloads.from_config(cfg, worker_id),
        save_retry_for=wcfg.save_retry_for,
    )
    heartbeat = Heartbeat(ctx.redis, cfg.redis.key_prefix, worker_id)
    return ActorWorker(worker_id, actor_dbid, ctx.broker, runner, policy, heartbeat, cfg.spawner.worker_ready_timeout)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    worker_id = os.environ.get("ABACO_WORKER_ID") or (argv[0] if argv else "")
    actor_dbid = os.environ.get("ABACO_ACTOR_DBID") or (argv[1] if len(argv) > 1 else "")
    if not worker_id or not actor_dbid:
        print("usage: abaco-worker WORKER_ID ACTOR_DBID (or ABACO_WORKER_ID/ABACO_ACTOR_DBID)", file=sys.stderr)
        return EXIT_CONFIG

    credential = WorkerCredential.from_process()
    trust_indexes()  # the spawner that starts workers built them (``ensure_indexes``) as it started
    facts = EngineFacts.from_env(os.environ)  # from the spawner: two engine round trips fewer

    def run(ctx: Context, stop: threading.Event) -> int:
        warm_up(ctx)  # beside the broker's round trips below
        tenant, _ = actors.split_key(actor_dbid)
        watch_versions(ctx.cfg, actor_dbid, configs.version_key(tenant))  # read at every message
        docker = DockerEngine(ctx.cfg.host.docker_url, api_version=facts.api_version if facts else None)
        return build_worker(ctx, docker, worker_id, actor_dbid, credential, facts=facts).run(stop)

    return run_service(f"worker[{worker_id}]", run)
