"""The actor resource (issue 7 items 2, 3, 5, 10): PUT keeps what it leaves out, the original's
error wording, derived fields, execution ids/owner, invisible actors are 404s, utilization."""

import pytest

from abaco_shared import executions, permissions
from abaco_shared.channels import CommandChannel
from abaco_shared.enums import Permission, Role
from abaco_shared.messages import SpawnCommand
from abaco_shared.models import Actor

from .test_app import IMAGE, app, call, create, dbid  # noqa: F401  (the app fixture)


@pytest.fixture
def stateful(app):  # noqa: F811
    return create(app, name="keeper", description="kept", stateless=False, hints=["sync"], defaultEnvironment={"A": 1})


def test_put_with_only_an_image_keeps_every_other_field(app, stateful):  # noqa: F811
    reply = call(app, "PUT", f"/actors/{stateful['id']}", json_body={"image": "abaco/echo:2"})

    assert reply.status == 200, reply.json
    got = reply.result
    assert (got["name"], got["description"], got["stateless"]) == ("keeper", "kept", False)
    assert (got["hints"], got["default_environment"]) == (["sync"], {"A": "1"})
    assert (got["image"], got["revision"]) == ("abaco/echo:2", 2)
    stored = Actor.objects.get(db_id=dbid(stateful))
    assert (stored.name, stored.stateless) == ("keeper", False)


def test_put_without_an_image_keeps_the_image_and_the_revision(app, stateful):  # noqa: F811
    reply = call(app, "PUT", f"/actors/{stateful['id']}", json_body={"description": "new"})

    assert reply.status == 200, reply.json
    assert (reply.result["image"], reply.result["revision"], reply.result["name"]) == (IMAGE, 1, "keeper")
    assert reply.result["description"] == "new"


def test_put_by_a_plain_user_keeps_privileged_fields_a_privileged_user_set(app):  # noqa: F811
    reply = call(
        app, "POST", "/actors", user="root", roles=(Role.PRIVILEGED,), json_body={"image": IMAGE, "max_workers": 4}
    )
    actor = reply.result
    permissions.grant("dev", dbid(actor), "alice", Permission.UPDATE)

    kept = call(app, "PUT", f"/actors/{actor['id']}", json_body={"image": IMAGE, "description": "d"})
    changed = call(app, "PUT", f"/actors/{actor['id']}", json_body={"image": IMAGE, "max_workers": 9})

    assert kept.status == 200 and kept.result["max_workers"] == 4
    assert changed.status == 403 and "max_workers" in changed.message


@pytest.mark.parametrize("body", [{}, {"name": "no image"}, {"image": ""}])
def test_a_post_without_an_image_says_image_is_required(app, body):  # noqa: F811
    reply = call(app, "POST", "/actors", json_body=body)

    assert reply.status == 400
    assert "image is required" in reply.message and "Missing required parameter" in reply.message


def test_a_stateful_actor_with_several_workers_is_refused_in_the_originals_words(app):  # noqa: F811
    body = {"image": IMAGE, "stateless": False, "max_workers": 2}
    reply = call(app, "POST", "/actors", roles=(Role.PRIVILEGED,), json_body=body)

    assert reply.status == 400 and "stateful actors can only have 1 worker" in reply.message


@pytest.mark.parametrize(
    "field, value",
    [("type", "xml"), ("webhook", "ftp://x"), ("cron_schedule", "every day"), ("hints", ["{x}"])],
)
def test_field_rules_name_the_field(app, field, value):  # noqa: F811
    reply = call(app, "POST", "/actors", json_body={"image": IMAGE, field: value})

    assert reply.status == 400 and field in reply.message


def test_a_cron_schedule_turns_cron_on(app):  # noqa: F811
    actor = create(app, cron_schedule="2030-01-01 12 + 1 hour", type="json", webhook="https://example.org/hook")

    assert (actor["cron_on"], actor["type"], actor["webhook"]) == (True, "json", "https://example.org/hook")


def test_the_actor_view_has_every_field_of_reference_1_3(app):  # noqa: F811
    actor = create(app)
    for field in (
        "id owner image name description stateless type default_environment privileged max_workers mem_limit "
        "max_cpus use_container_uid queue token link webhook hints log_ex cron_schedule cron_on "
        "run_as_executor revision status status_message state mounts uid gid tasdir create_time "
        "last_update_time cron_next_ex cron_next_ex_time cron_missed _links"
    ).split():
        assert field in actor, field
    assert set(actor["_links"]) == {"self", "owner", "executions"}


def test_executions_summary_lists_the_ids_and_one_execution_has_its_owner(app):  # noqa: F811
    actor = create(app)
    stored = Actor.objects.get(db_id=dbid(actor))
    for n in (1, 2):
        executions.submit(stored, f"EX{n}", "bob", "str", "hi", {})

    summary = call(app, "GET", f"/actors/{actor['id']}/executions").result
    one = call(app, "GET", f"/actors/{actor['id']}/executions/EX1").result

    assert sorted(summary["ids"]) == ["EX1", "EX2"] == sorted(e["id"] for e in summary["executions"])
    assert (one["owner"], one["executor"]) == ("alice", "bob")


@pytest.mark.parametrize(
    "method, path",
    [("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/executions"), ("GET", "/state")],
)
def test_an_actor_the_caller_may_not_read_is_the_404_of_a_missing_one(app, method, path):  # noqa: F811
    actor = create(app)
    hidden = call(app, method, f"/actors/{actor['id']}{path}", user="bob", json_body={"image": IMAGE})
    missing = call(app, method, f"/actors/XNOPE{path}", user="bob", json_body={"image": IMAGE})

    assert (hidden.status, missing.status) == (404, 404)
    assert hidden.message == missing.message.replace("XNOPE", actor["id"])
    assert hidden.message == f"No actor found with identifier: {actor['id']}."


def test_read_without_the_needed_level_is_403(app):  # noqa: F811
    actor = create(app)
    permissions.grant("dev", dbid(actor), "bob", Permission.READ)

    assert call(app, "GET", f"/actors/{actor['id']}", user="bob").status == 200
    reply = call(app, "DELETE", f"/actors/{actor['id']}", user="bob")
    assert reply.status == 403 and "UPDATE" in reply.message


def test_utilization_counts_the_callers_tenant(app, broker):  # noqa: F811
    first, _second = create(app), create(app, user="bob")
    call(app, "POST", "/actors", user="eve", tenant="other", json_body={"image": IMAGE})  # another tenant
    executions.submit(Actor.objects.get(db_id=dbid(first)), "EX1", "alice", "str", "hi", {})
    call(app, "DELETE", f"/actors/{first['id']}")
    CommandChannel(broker).send_spawn(
        SpawnCommand(actor_dbid="dev_X", worker_id="W9", image=IMAGE, revision=1, tenant="dev")
    )

    reply = call(app, "GET", "/actors/utilization", user="carol")

    assert reply.status == 200, reply.json
    # two registered, one deleted (its execution is kept); each registration requested a worker
    result = reply.result
    assert (result["currentActors"], result["totalActors"]) == (1, 2)
    assert result["workers"] == 1 and result["commandQueue"] >= 1


def test_utilization_is_never_an_actor_id(app):  # noqa: F811
    reply = call(app, "GET", "/actors/v2/utilization")

    assert reply.status == 200 and set(reply.result) == {"currentActors", "totalActors", "workers", "commandQueue"}
