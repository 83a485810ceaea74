"""Helpers for calling the apps in-process over WSGI in unit tests."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Reply", "Unreadable"]


@dataclass
class Reply:
    """One answer: status, headers and body, with the envelope's parts at hand."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def result(self) -> Any:
        return self.json["result"]

    @property
    def message(self) -> str:
        return str(self.json["message"])


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, *args: Any) -> bytes:
        raise AssertionError("the body was read")

    readline = readinto = read
