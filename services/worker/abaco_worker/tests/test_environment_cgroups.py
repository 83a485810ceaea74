from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Actor
from abaco_worker.cgroups import CgroupMeter, Usage, cgroup_layout
from abaco_worker.environment import container_env


def _actor(**kw):
    base = dict(
        db_id="dev_A1",
        actor_id="A1",
        tenant="dev",
        owner="alice",
        image="img:1",
        name=None,
        default_environment={"X": "default", "Y": "default"},
        state={"n": 1},
    )
    base.update(kw)
    return Actor(**base)


def test_sources_are_layered_and_abaco_variables_are_set():
    msg = MailboxMessage(
        execution_id="E1",
        content_type="application/json",
        message={"k": "v"},
        env={"Y": "param", "_abaco_execution_id": "E1", "_abaco_username": "bob"},
    )
    env = container_env(_actor(), msg, "W1", "http://api")
    assert env["X"] == "default" and env["Y"] == "default", "a sender never overrides the owner's environment"
    assert env["MSG"] == "{'k': 'v'}", "Python repr, as the original's clients expect"
    assert env["_abaco_MSG_JSON"] == '{"k": "v"}'
    assert env["_abaco_Content_Type"] == env["_abaco_Content-Type"] == "application/json"
    assert env["_abaco_worker_id"] == "W1" and env["_abaco_actor_id"] == "A1" and env["_abaco_actor_dbid"] == "dev_A1"
    assert env["_abaco_actor_name"] == "None" and env["_abaco_container_repo"] == "img:1"
    assert env["_abaco_actor_state"] == "{'n': 1}" and env["_abaco_access_token"] == ""
    assert env["_abaco_execution_id"] == "E1" and env["_abaco_username"] == "bob"
    assert all(isinstance(v, str) for v in env.values())


def test_a_message_cannot_override_worker_variables():
    msg = MailboxMessage(execution_id="E1", content_type="str", message="hi", env={"_abaco_worker_id": "evil"})
    assert container_env(_actor(), msg, "W1", "http://api")["_abaco_worker_id"] == "W1"


def test_cgroup_meter_reads_cpu_and_block_io(tmp_path):
    cpu = tmp_path / "cpuacct" / "abaco" / "W1"
    blk = tmp_path / "blkio" / "abaco" / "W1"
    cpu.mkdir(parents=True)
    blk.mkdir(parents=True)
    parent, meter = cgroup_layout("cgroupfs", 1, "/abaco", "W1", str(tmp_path))
    assert parent == "/abaco/W1"
    (cpu / "cpuacct.usage").write_text("1000\n")
    (blk / "blkio.throttle.io_service_bytes_recursive").write_text("8:0 Read 10\n8:0 Write 5\n8:0 Total 15\nTotal 15\n")
    before = meter.read()
    (cpu / "cpuacct.usage").write_text("5000\n")
    (blk / "blkio.throttle.io_service_bytes_recursive").write_text("8:0 Read 110\n8:0 Write 5\nTotal 115\n")
    assert meter.read() - before == Usage(cpu_ns=4000, io_bytes=100)


def test_cgroup_meter_without_cgroups_reads_zero(tmp_path):
    assert CgroupMeter(str(tmp_path), "/abaco/none").read() == Usage(0, 0)


def test_cgroup_v2_under_the_systemd_driver(tmp_path):
    parent, meter = cgroup_layout("systemd", 2, "/abaco", "W1", str(tmp_path))
    assert parent == "abaco-W1.slice"
    d = tmp_path / "abaco.slice" / "abaco-W1.slice"
    d.mkdir(parents=True)
    (d / "cpu.stat").write_text("usage_usec 10\nuser_usec 6\nsystem_usec 4\n")
    (d / "io.stat").write_text("8:0 rbytes=100 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n")
    before = meter.read()
    (d / "cpu.stat").write_text("usage_usec 25\nuser_usec 6\nsystem_usec 4\n")
    (d / "io.stat").write_text("8:0 rbytes=150 wbytes=20 rios=2 wios=1 dbytes=0 dios=0\n8:16 rbytes=5 wbytes=5\n")
    assert meter.read() - before == Usage(cpu_ns=15_000, io_bytes=60)


def test_cgroup_v2_under_cgroupfs(tmp_path):
    parent, meter = cgroup_layout("cgroupfs", 2, "/abaco", "W1", str(tmp_path))
    assert parent == "/abaco/W1" and meter.rel == "abaco/W1" and meter.version == 2


def test_systemd_parent_must_be_one_word(tmp_path):
    import pytest

    from abaco_shared.errors import ConfigError

    with pytest.raises(ConfigError):
        cgroup_layout("systemd", 2, "/my-abaco", "W1", str(tmp_path))
    _, meter = cgroup_layout("systemd", 2, "/abaco", "W1", str(tmp_path))
    d = tmp_path / "abaco.slice" / "abaco-W1.slice"
    d.mkdir(parents=True)
    meter.remove()
    assert d.exists(), "systemd owns its slices"


def test_a_sender_cannot_steer_how_the_containers_programs_load():
    params = {
        "LD_PRELOAD": "/tmp/x.so",
        "PATH": "/tmp",
        "PYTHONSTARTUP": "/tmp/x.py",
        "ld_library_path": "/x",
        "MSG": "spoof",
        "_actor_configs": "{}",
        "Z": "fine",
    }
    msg = MailboxMessage(execution_id="E1", content_type="str", message="hi", env=params)
    env = container_env(_actor(default_environment={}), msg, "W1", "http://api")
    assert env["Z"] == "fine" and env["MSG"] == "hi"
    for name in ("LD_PRELOAD", "PATH", "PYTHONSTARTUP", "ld_library_path", "_actor_configs"):
        assert name not in env, name
