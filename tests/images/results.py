"""An actor that sends results (image ``abaco/results``, scripts/build-images.sh).

It sends the datagrams b"one", b"two", b"three" to the results socket, in that order (or the
comma-separated words of ``RESULTS``), prints one line per datagram sent, then sleeps
``SLEEP_AFTER`` seconds (default 0) before it exits: a synchronous caller gets b"one" at once.
"""

from __future__ import annotations

import os
import socket
import time

SOCKET = "/_abaco_results.sock"


def main() -> None:
    words = os.environ.get("RESULTS", "one,two,three").split(",")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        for word in words:
            s.sendto(word.encode(), SOCKET)
            print(f"sent: {word}", flush=True)
    time.sleep(float(os.environ.get("SLEEP_AFTER", "0")))


if __name__ == "__main__":
    main()
