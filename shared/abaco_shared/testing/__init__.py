"""Fakes and fixtures for fast unit tests of the daemons and workflows (no services needed).

``mongomock`` and ``fakeredis`` are test dependencies: they are imported only when used.
"""

from .clientg import FakeClients
from .fakes import FakeDelivery, FakeDocker, FakeRun, InlineExecutor, fake_redis, memory_broker, use_mongomock

__all__ = [
    "FakeClients",
    "FakeDelivery",
    "FakeDocker",
    "FakeRun",
    "InlineExecutor",
    "fake_redis",
    "memory_broker",
    "use_mongomock",
]
