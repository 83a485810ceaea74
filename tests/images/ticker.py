"""abaco/ticker: prints ``tick N`` every ``TICK_SECONDS`` (0.5) seconds, ``TICKS`` (12) times, then
``done``, flushing each line (tests/integration/test_live_logs.py reads it while it runs)."""

import os
import sys
import time

ticks = int(os.environ.get("TICKS", "12"))
pause = float(os.environ.get("TICK_SECONDS", "0.5"))
for n in range(1, ticks + 1):
    print(f"tick {n}", flush=True)
    time.sleep(pause)
print("done", flush=True)
sys.exit(0)
