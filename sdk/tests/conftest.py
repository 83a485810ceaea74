"""sdk/abaco_actor.py is a loose module (copied into actor images), not a package: put it on the path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
