"""get_binary_message: the payload of a binary message, from the file at /_abaco_binary_data."""

from __future__ import annotations

import os
import threading

import abaco_actor
import pytest
from abaco_actor import get_binary_message

PAYLOAD = bytes(range(256)) * 1000  # 256 KB: more than a pipe's 64 KiB buffer


def test_it_reads_the_mounted_file_to_its_end(tmp_path):
    path = tmp_path / "_abaco_binary_data"
    path.write_bytes(PAYLOAD)
    path.chmod(0o444)

    assert get_binary_message(str(path)) == PAYLOAD


def test_it_reads_from_the_platforms_path_by_default():
    assert abaco_actor.BINARY_DATA == "/_abaco_binary_data"
    assert get_binary_message.__defaults__ == ("/_abaco_binary_data",)


def test_an_empty_file_is_an_empty_message(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"")

    assert get_binary_message(str(path)) == b""


def test_a_message_that_is_not_binary_has_no_payload(tmp_path):
    with pytest.raises(FileNotFoundError):
        get_binary_message(str(tmp_path / "missing"))


def test_a_fifo_of_the_original_platform_is_read_until_its_writer_closes(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)

    def write() -> None:
        with open(path, "wb") as fifo:
            fifo.write(PAYLOAD)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert get_binary_message(str(path)) == PAYLOAD
    finally:
        writer.join(timeout=10)
