"""Actor records (``abaco_shared.actors``) against mongomock."""

import datetime as dt

import pytest

from abaco_shared import actors
from abaco_shared.enums import ActorStatus
from abaco_shared.errors import Conflict
from abaco_shared.ids import is_id
from abaco_shared.models import Actor

pytestmark = pytest.mark.usefixtures("mongo")

IMAGE = "abaco/echo:latest"
T0 = dt.datetime(2024, 1, 1, 12, 0, 0)


def make(tenant="dev", owner="alice", **values):
    values.setdefault("image", IMAGE)
    return actors.create(tenant, owner, values)


def reload(actor):
    return actors.get(actor.db_id)


# keys


@pytest.mark.parametrize(
    "tenant, actor_id",
    [("dev", "abc123"), ("a.b-c", "XyZ"), ("dev", "id_with_underscores")],
)
def test_key_round_trip(tenant, actor_id):
    key = actors.key_for(tenant, actor_id)
    assert key == f"{tenant}_{actor_id}"
    assert actors.split_key(key) == (tenant, actor_id)


def test_split_key_splits_at_the_first_underscore():
    # tenants never contain "_", so everything after the first one is the actor id
    assert actors.split_key("dev_a_b") == ("dev", "a_b")


# create / get / find


def test_create_assigns_a_hashid_and_key():
    actor = make(tenant="dev", owner="alice", name="echo", max_workers=2)
    assert is_id(actor.actor_id)
    assert actor.db_id == f"dev_{actor.actor_id}"
    stored = actors.get(actor.db_id)
    assert stored is not None
    assert (stored.tenant, stored.owner, stored.image, stored.name, stored.max_workers) == (
        "dev",
        "alice",
        IMAGE,
        "echo",
        2,
    )
    assert stored.revision == 1
    assert stored.status == ActorStatus.SUBMITTED.value


def test_create_gives_every_actor_a_new_id():
    ids = {make().actor_id for _ in range(5)}
    assert len(ids) == 5


def test_get_unknown_key_is_none():
    assert actors.get("dev_nope") is None


def test_find_by_tenant_and_id():
    actor = make(tenant="dev")
    found = actors.find("dev", actor.actor_id)
    assert found is not None and found.db_id == actor.db_id


def test_find_is_tenant_scoped():
    actor = make(tenant="dev")
    assert actors.find("other", actor.actor_id) is None


def test_find_never_returns_a_record_whose_tenant_differs_from_its_key():
    # a record keyed "dev_X" but belonging to tenant "other" (should never exist) is not found via dev
    Actor(db_id="dev_X", actor_id="X", tenant="other", owner="o", image=IMAGE).save(force_insert=True)
    assert actors.find("dev", "X") is None
    assert actors.find("other", "X") is None


# list_visible


def test_list_visible_is_oldest_first_and_tenant_scoped():
    newest = make(create_time=T0 + dt.timedelta(seconds=2))
    oldest = make(create_time=T0)
    middle = make(create_time=T0 + dt.timedelta(seconds=1))
    make(tenant="other", create_time=T0 - dt.timedelta(seconds=5))
    assert [a.db_id for a in actors.list_visible("dev")] == [oldest.db_id, middle.db_id, newest.db_id]


def test_list_visible_only_restricts_to_the_given_keys():
    a = make(create_time=T0)
    make(create_time=T0 + dt.timedelta(seconds=1))
    c = make(create_time=T0 + dt.timedelta(seconds=2))
    other = make(tenant="other")
    only = iter([c.db_id, a.db_id, other.db_id, "dev_missing"])  # any iterable, any order
    assert [x.db_id for x in actors.list_visible("dev", only=only)] == [a.db_id, c.db_id]


def test_list_visible_with_empty_only_is_empty():
    make()
    assert actors.list_visible("dev", only=[]) == []


def test_list_visible_of_an_empty_tenant():
    assert actors.list_visible("nobody") == []


# apply_update


def aged(actor, status=ActorStatus.READY, message="was fine"):
    """Give the stored actor an old last_update_time and a non-default status."""
    Actor.objects(db_id=actor.db_id).update_one(
        set__last_update_time=T0, set__status=status.value, set__status_message=message
    )
    return reload(actor)


def test_update_with_the_same_image_keeps_revision_and_status():
    actor = aged(make(description="old"))
    assert actors.apply_update(actor, {"image": IMAGE, "description": "new"}, force=False) is False
    stored = reload(actor)
    assert stored.description == "new"
    assert stored.revision == 1
    assert stored.status == ActorStatus.READY.value
    assert stored.status_message == "was fine"
    assert stored.last_update_time > T0


def test_two_updates_made_from_the_same_read_give_one_new_revision_and_a_409():
    first = make()
    second = reload(first)  # both callers read revision 1
    assert actors.apply_update(first, {"image": "abaco/one:1"}, force=False) is True
    with pytest.raises(Conflict, match="changed while this update was made") as err:
        actors.apply_update(second, {"image": "abaco/two:1"}, force=False)
    assert err.value.http_status == 409
    stored = reload(first)
    assert (stored.image, stored.revision) == ("abaco/one:1", 2)


def test_an_update_never_brings_back_an_actor_being_deleted():
    actor = make()
    Actor.objects(db_id=actor.db_id).update_one(set__status=ActorStatus.SHUTTING_DOWN.value)
    with pytest.raises(Conflict):
        actors.apply_update(actor, {"image": "abaco/other:1"}, force=False)
    assert reload(actor).status == ActorStatus.SHUTTING_DOWN.value


def test_update_without_an_image_keeps_revision():
    actor = aged(make())
    assert actors.apply_update(actor, {"max_workers": 3}, force=False) is False
    stored = reload(actor)
    assert (stored.max_workers, stored.revision, stored.status) == (3, 1, ActorStatus.READY.value)


@pytest.mark.parametrize(
    "values, force",
    [({"image": "abaco/other:1"}, False), ({"image": IMAGE}, True), ({}, True)],
    ids=["new-image", "force-same-image", "force-no-values"],
)
def test_new_image_or_force_bumps_the_revision(values, force):
    actor = aged(make(), status=ActorStatus.ERROR, message="broken")
    assert actors.apply_update(actor, values, force=force) is True
    stored = reload(actor)
    assert stored.revision == 2
    assert stored.status == ActorStatus.SUBMITTED.value
    assert stored.status_message == ""
    assert stored.image == values.get("image", IMAGE)
    assert stored.last_update_time > T0


def test_revisions_keep_counting():
    actor = make()
    for n in range(2, 5):
        actors.apply_update(actor, {"image": f"abaco/echo:{n}"}, force=False)
    assert reload(actor).revision == 4


# set_status / mark_ready / fail


def test_set_status_writes_status_and_message():
    actor = make()
    assert actors.set_status(actor.db_id, ActorStatus.SHUTTING_DOWN, "deleting") is True
    stored = reload(actor)
    assert (stored.status, stored.status_message) == ("SHUTTING_DOWN", "deleting")


def test_set_status_clears_the_message_by_default():
    actor = make()
    actors.set_status(actor.db_id, ActorStatus.ERROR, "boom")
    actors.set_status(actor.db_id, ActorStatus.READY)
    assert reload(actor).status_message == ""


def test_set_status_of_a_missing_actor_is_false():
    assert actors.set_status("dev_nope", ActorStatus.READY) is False


def test_mark_ready_from_submitted_for_the_current_revision():
    actor = make()
    actors.set_status(actor.db_id, ActorStatus.SUBMITTED, "waiting for a worker")
    assert actors.mark_ready(actor.db_id, revision=1) is True
    stored = reload(actor)
    assert (stored.status, stored.status_message) == ("READY", "")


def test_mark_ready_refuses_a_stale_revision():
    actor = make()
    actors.apply_update(actor, {"image": "abaco/other:1"}, force=False)  # now revision 2
    assert actors.mark_ready(actor.db_id, revision=1) is False
    assert reload(actor).status == ActorStatus.SUBMITTED.value
    assert actors.mark_ready(actor.db_id, revision=2) is True


@pytest.mark.parametrize("status", [ActorStatus.ERROR, ActorStatus.SHUTTING_DOWN, ActorStatus.READY])
def test_mark_ready_only_from_submitted(status):
    actor = make()
    actors.set_status(actor.db_id, status, "kept")
    assert actors.mark_ready(actor.db_id, revision=1) is False
    stored = reload(actor)
    assert (stored.status, stored.status_message) == (status.value, "kept")


def test_mark_ready_of_a_missing_actor_is_false():
    assert actors.mark_ready("dev_nope", revision=1) is False


def test_fail_puts_the_actor_in_error_with_the_reason():
    actor = make()
    assert actors.fail(actor.db_id, "image not found") is True
    stored = reload(actor)
    assert (stored.status, stored.status_message) == ("ERROR", "image not found")
    assert actors.accepts_work(stored) is False


def test_fail_of_a_missing_actor_is_false():
    assert actors.fail("dev_nope", "x") is False


# claim_worker_slot


def test_claim_worker_slot_has_one_winner_per_slot():
    actor = make()
    assert actors.claim_worker_slot(actor.db_id, "slot-1") is True
    assert actors.claim_worker_slot(actor.db_id, "slot-1") is False
    assert actors.claim_worker_slot(actor.db_id, "slot-1") is False
    assert reload(actor).worker_claim == "slot-1"


def test_a_new_slot_wins_again():
    actor = make()
    assert actors.claim_worker_slot(actor.db_id, "slot-1") is True
    assert actors.claim_worker_slot(actor.db_id, "slot-2") is True
    assert actors.claim_worker_slot(actor.db_id, "slot-2") is False
    assert actors.claim_worker_slot(actor.db_id, "slot-1") is True  # a slot different from the last
    assert reload(actor).worker_claim == "slot-1"


def test_slots_are_per_actor():
    a, b = make(), make()
    assert actors.claim_worker_slot(a.db_id, "s") is True
    assert actors.claim_worker_slot(b.db_id, "s") is True


def test_claim_worker_slot_of_a_missing_actor_is_false():
    assert actors.claim_worker_slot("dev_nope", "s") is False


# delete / accepts_work


def test_delete_removes_only_that_actor():
    a, b = make(), make()
    actors.delete(a.db_id)
    assert actors.get(a.db_id) is None
    assert actors.get(b.db_id) is not None
    actors.delete(a.db_id)  # idempotent


@pytest.mark.parametrize(
    "status, accepts",
    [
        (ActorStatus.SUBMITTED, True),
        (ActorStatus.READY, True),
        (ActorStatus.ERROR, False),
        (ActorStatus.SHUTTING_DOWN, False),
    ],
)
def test_accepts_work(status, accepts):
    actor = make()
    actors.set_status(actor.db_id, status)
    assert actors.accepts_work(reload(actor)) is accepts
