"""Binary messages in the shared contracts: the mailbox body, the config, the accepted view."""

from __future__ import annotations

import pytest

from abaco_shared import executions
from abaco_shared.actors import create
from abaco_shared.config import MAX_BINARY_LENGTH, load_config
from abaco_shared.errors import ConfigError
from abaco_shared.messages import MailboxMessage
from abaco_shared.views import message_accepted_view


def test_a_mailbox_message_carries_the_blob_id_and_size():
    msg = MailboxMessage("E1", "application/octet-stream", {"binary_size": 5}, binary_ref="b1", binary_size=5)

    again = MailboxMessage.from_dict(msg.to_dict())

    assert (again.binary_ref, again.binary_size) == ("b1", 5)


def test_a_mailbox_message_of_an_earlier_release_is_still_readable():
    old = {"v": 1, "execution_id": "E1", "content_type": "str", "message": "hi", "env": {}, "executor": "alice"}

    msg = MailboxMessage.from_dict(old)

    assert (msg.binary_ref, msg.binary_size) == ("", 0)


def test_binary_limits_and_directory_in_the_config(tmp_path):
    cfg = load_config(env={"ABACO_HOME": str(tmp_path)})
    assert cfg.http.max_binary_length == 500_000_000
    assert cfg.worker.binary_dir == ""  # the worker uses <data_dir>/binary

    cfg = load_config(env={"ABACO__HTTP__MAX_BINARY_LENGTH": "1000", "ABACO__WORKER__BINARY_DIR": "/srv/bin"})
    assert (cfg.http.max_binary_length, cfg.worker.binary_dir) == (1000, "/srv/bin")


@pytest.mark.parametrize("value", ["0", str(MAX_BINARY_LENGTH + 1)])
def test_a_binary_limit_out_of_range_fails_at_start(value):
    with pytest.raises(ConfigError, match="max_binary_length"):
        load_config(env={"ABACO__HTTP__MAX_BINARY_LENGTH": value})


def test_the_answer_to_a_binary_message_omits_it(mongo):
    actor = create("dev", "alice", {"image": "abaco/echo:latest"})
    binary = executions.submit(actor, "E1", "alice", "application/octet-stream", {"binary_size": 3}, {}, "b1")
    text = executions.submit(actor, "E2", "alice", "str", "hello", {})

    assert message_accepted_view(actor, binary, "http://api")["msg"] == "binary - omitted"
    assert message_accepted_view(actor, text, "http://api")["msg"] == "hello"
