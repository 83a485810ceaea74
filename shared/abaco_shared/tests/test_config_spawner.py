"""The spawner's crash-safety settings: bounds that keep a held command and health consistent."""

from __future__ import annotations

import pytest

from abaco_shared.config import load_config
from abaco_shared.errors import ConfigError


def test_defaults_hold_a_command_until_its_worker_is_ready():
    cfg = load_config(env={})
    assert cfg.spawner.max_parallel_spawns <= cfg.spawner.command_prefetch
    assert cfg.spawner.start_timeout >= cfg.spawner.worker_ready_timeout
    assert cfg.health.spawning_grace >= cfg.health.startup_timeout


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"ABACO__SPAWNER__MAX_PARALLEL_SPAWNS": "0"}, "max_parallel_spawns"),
        ({"ABACO__SPAWNER__COMMAND_PREFETCH": "2", "ABACO__SPAWNER__MAX_PARALLEL_SPAWNS": "4"}, "command_prefetch"),
        ({"ABACO__SPAWNER__START_TIMEOUT": "5"}, "start_timeout"),
        ({"ABACO__HEALTH__SPAWNING_GRACE": "60"}, "spawning_grace"),
    ],
)
def test_inconsistent_bounds_are_refused(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(env=env)
