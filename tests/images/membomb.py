"""A memory bomb, for the resource-limit tests: baked into the image ``abaco/membomb``.

It allocates memory in ``MEMBOMB_CHUNK_MB`` chunks (default 50 MB) and writes every page, so the
memory is really resident, up to ``MEMBOMB_MAX_MB`` (default 8192). Under the containers'
default 1g limit (no swap beyond it) the kernel OOM-kills it; if it ever reaches the ceiling it
says so and exits 0, which the test reads as "no memory limit". ``MEMBOMB_PAUSE`` (seconds
between chunks, default 0) slows the climb, so a test can watch the platform while it grows.
"""

from __future__ import annotations

import os
import sys
import time

CHUNK_MB = int(os.environ.get("MEMBOMB_CHUNK_MB", "50"))
MAX_MB = int(os.environ.get("MEMBOMB_MAX_MB", "8192"))
PAUSE = float(os.environ.get("MEMBOMB_PAUSE", "0"))


def main() -> int:
    held: list[bytes] = []
    total = 0
    while total + CHUNK_MB <= MAX_MB:
        held.append(b"\x01" * (CHUNK_MB << 20))  # bytes * n fills (touches) every page
        total += CHUNK_MB
        print(f"membomb: {total} MB resident", flush=True)
        time.sleep(PAUSE)
    print(f"membomb: reached {total} MB and was never killed (no memory limit?)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
