import pytest

from abaco_shared.errors import ValidationError
from abaco_shared.mounts import Mount, check_template, render_mounts

ROOTS = ("/data", "/scratch/")


def test_templates_are_filled_and_read_only_by_default():
    mounts = render_mounts(
        ("/data/{tenant_id}/{username}:/work:rw", "/scratch/{actor_id}:/scratch"),
        ROOTS,
        username="alice",
        tenant_id="dev",
        actor_id="A1",
    )
    assert mounts == [Mount("/data/dev/alice", "/work", "rw"), Mount("/scratch/A1", "/scratch", "ro")]
    assert [m.bind() for m in mounts] == ["/data/dev/alice:/work:rw", "/scratch/A1:/scratch:ro"]


@pytest.mark.parametrize(
    "template, values, fragment",
    [
        ("/data/{username}:/work", {"username": ".."}, "without '..'"),
        ("/data/../etc:/etc", {}, "without '..'"),
        ("/etc:/etc", {}, "not under an allowed root"),
        ("/database:/db", {}, "not under an allowed root"),  # a sibling sharing a prefix
        ("relative:/work", {}, "absolute"),
        ("/data/x:work", {}, "absolute"),
        ("/data/x:/work:rwx", {}, "host:container"),
        ("/data/x", {}, "host:container"),
        ("/data/{nope}:/work", {}, "unknown placeholder"),
        ("/data/x:/_abaco_results.sock", {}, "reserved"),
    ],
)
def test_bad_mounts_are_refused(template, values, fragment):
    with pytest.raises(ValidationError, match=fragment):
        render_mounts((template,), ROOTS, **{"username": "u", "tenant_id": "t", "actor_id": "a", **values})


def test_no_roots_means_no_mounts():
    with pytest.raises(ValidationError, match="allowed root"):
        render_mounts(("/data/x:/x",), (), username="u", tenant_id="t", actor_id="a")


def test_check_template():
    check_template("/data/{username}:/home/{username}:rw", ROOTS)
    with pytest.raises(ValidationError):
        check_template("/var/run/docker.sock:/var/run/docker.sock", ROOTS)
