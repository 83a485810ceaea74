"""Entry point of the events agent: ``python -m abaco_health.events`` (the agent is in ``agent``)."""

import sys

from .agent import main

if __name__ == "__main__":
    sys.exit(main())
