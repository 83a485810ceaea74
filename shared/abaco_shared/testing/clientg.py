"""A stand-in for clientg's side of the clients channel: daemons that ask clientg take a
``ClientsChannel``; their unit tests give them this instead, and read what was asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ChannelTimeout
from ..messages import ClientReply, ClientRequest

__all__ = ["FakeClients"]


@dataclass
class FakeClients:
    """Answers ``request`` with ``answer(req)`` (an ok reply by default), or times out when
    ``silent``; every request, awaited or told, is kept in ``requests``."""

    answer: Callable[[ClientRequest], ClientReply] | None = None
    silent: bool = False
    requests: list[ClientRequest] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    def request(self, req: ClientRequest, timeout: float = 60.0) -> ClientReply:
        self.requests.append(req)
        self.timeouts.append(timeout)
        if self.silent:
            raise ChannelTimeout(f"no reply within {timeout} s")
        if self.answer is not None:
            return self.answer(req)
        return ClientReply(status="ok", client_id=f"{req.tenant}_{req.worker_id}")

    def tell(self, req: ClientRequest) -> None:
        self.requests.append(req)

    def commands(self) -> list[str]:
        return [r.command for r in self.requests]
