"""abaco/printenv: prints MSG and the variables the platform sets for a message (``_abaco_*`` but
the token, and ``Time_msg_queued``), one ``NAME=value`` line each, sorted (cron tests)."""

import os

for name in sorted(os.environ):
    if name == "MSG" or name == "Time_msg_queued" or (name.startswith("_abaco_") and "token" not in name):
        print(f"{name}={os.environ[name]}")
