"""EngineFacts: what a spawner hands each worker so that it need not ask the engine as it starts."""

import pytest

from abaco_shared.enginefacts import ENV, EngineFacts


def test_the_facts_go_through_the_environment_unchanged():
    facts = EngineFacts("1.41", "systemd", 2)
    assert facts.env() == {ENV: "1.41,systemd,2"}
    assert EngineFacts.from_env(facts.env()) == facts


@pytest.mark.parametrize(
    "value",
    ["", "1.41", "1.41,cgroupfs", "auto,cgroupfs,1", "1.41,lxc,1", "1.41,cgroupfs,3", "1.41,cgroupfs,1,x", "1,x,1"],
)
def test_facts_that_do_not_parse_are_none_and_the_worker_asks_the_engine(value):
    assert EngineFacts.from_env({ENV: value}) is None


def test_no_facts_at_all():
    assert EngineFacts.from_env({}) is None
