"""Fixtures shared by every unit test: fakes for the stores, the broker and the Docker engine."""

from __future__ import annotations

import pytest

from abaco_shared.testing import FakeDocker, fake_redis, memory_broker, use_mongomock


@pytest.fixture
def mongo():
    """A fresh mongomock database behind mongoengine's default connection."""
    with use_mongomock():
        yield


@pytest.fixture
def broker():
    b = memory_broker()
    yield b
    b.close()


@pytest.fixture
def redis_client():
    return fake_redis()


@pytest.fixture
def docker():
    return FakeDocker(images={"abaco/echo:latest"})
