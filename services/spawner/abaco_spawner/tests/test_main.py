"""The spawner hands each worker the engine's facts (``with_engine_facts``)."""

from abaco_shared.enginefacts import ENV, EngineFacts
from abaco_shared.errors import DockerError
from abaco_spawner.main import with_engine_facts


class Engine:
    def __init__(self, facts: EngineFacts | None) -> None:
        self._facts = facts

    def facts(self) -> EngineFacts:
        if self._facts is None:
            raise DockerError("cannot read the Docker engine's info: refused")
        return self._facts


def test_each_worker_gets_the_engines_facts_beside_its_own_environment():
    launched = []
    launch = with_engine_facts(
        lambda w, a, env: launched.append((w, a, dict(env))) or 42, Engine(EngineFacts("1.41", "cgroupfs", 1))
    )  # type: ignore[arg-type]
    assert launch("W1", "dev_A1", {"ABACO_CLIENT_ID": "c"}) == 42
    assert launched == [("W1", "dev_A1", {ENV: "1.41,cgroupfs,1", "ABACO_CLIENT_ID": "c"})]


def test_an_engine_that_cannot_tell_leaves_the_launch_as_it_was():
    def launch(worker_id: str, actor_dbid: str, env: dict[str, str]) -> int:
        return 7

    assert with_engine_facts(launch, Engine(None)) is launch  # type: ignore[arg-type]
