"""abaco/envdump: prints the environment variables an actor gets from its configs
(``_actor_configs*``), one ``NAME=value`` line each, sorted (tests/integration/test_configs.py)."""

import os

for name in sorted(os.environ):
    if name.startswith("_actor_configs"):
        print(f"{name}={os.environ[name]}")
