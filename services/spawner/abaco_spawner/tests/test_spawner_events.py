"""The spawner publishes ACTOR_ERROR when it puts an actor with a link or a webhook in ERROR."""

from abaco_shared import actors
from abaco_shared.channels import EventsChannel
from abaco_shared.config import SpawnerConfig
from abaco_shared.messages import EventMessage
from abaco_shared.testing import FakeDocker, InlineExecutor
from abaco_spawner.spawner import Spawner

from .test_spawner import HOST, IMAGE, FakeLauncher, drain, request


def _fail_the_pull(broker, actor) -> list[dict]:
    _, cmd = request(actor, broker)
    spawner = Spawner(
        SpawnerConfig(pull_policy="never"), HOST, broker, FakeDocker(), FakeLauncher(), pulls=InlineExecutor()
    )
    spawner.handle(cmd)
    return [EventMessage.from_dict(body).event for body in drain(broker, EventsChannel(broker).queue)]


def test_an_image_that_cannot_be_had_sends_actor_error_with_the_reason(mongo, broker):
    actor = actors.create("dev", "alice", {"image": IMAGE, "webhook": "https://example.org/h"})
    (event,) = _fail_the_pull(broker, actor)
    failed = actors.get(actor.db_id)
    assert (event["event_type"], event["status_message"]) == ("ACTOR_ERROR", failed.status_message)
    assert IMAGE in event["status_message"]


def test_an_actor_without_link_or_webhook_sends_nothing(mongo, broker):
    assert _fail_the_pull(broker, actors.create("dev", "alice", {"image": IMAGE})) == []
