"""abaco/binsum: prints the size and sha256 of the binary message at /_abaco_binary_data, read until
EOF, and the message's _abaco_Content_Type (tests/integration/test_binary_messages.py).

With ``BINSUM_READ=nonblock`` it reads the way agavepy's actor helper does: the file opened with
O_NONBLOCK and read in small pieces until a read returns nothing (or would block).
"""

import errno
import hashlib
import os

PATH = "/_abaco_binary_data"


def read_blocking(digest):
    size = 0
    with open(PATH, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size


def read_nonblocking(digest):
    size = 0
    fd = os.open(PATH, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    break
                raise
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return size


digest = hashlib.sha256()
mode = os.environ.get("BINSUM_READ", "blocking")
size = read_nonblocking(digest) if mode == "nonblock" else read_blocking(digest)
print(f"content_type={os.environ.get('_abaco_Content_Type')}")
print(f"msg_set={'MSG' in os.environ}")
print(f"read={mode} size={size} sha256={digest.hexdigest()}")
