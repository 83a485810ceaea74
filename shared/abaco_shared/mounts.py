"""Host mounts of actor containers: templates from config, filled per actor, then validated.

A template is ``host:container[:ro|rw]`` (read-only unless it says ``rw``) with ``{username}``,
``{tenant_id}`` and ``{actor_id}`` filled from the actor. After filling, the host path must be
absolute, free of ``..`` and under one of the configured roots; the container path absolute and
not one the platform uses (``/_abaco_*``). Anything else is refused, never repaired.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from .errors import ValidationError

__all__ = ["Mount", "render_mounts", "check_template"]

RESERVED_TARGETS = ("/_abaco",)


@dataclass(frozen=True)
class Mount:
    host: str
    container: str
    mode: str = "ro"

    def bind(self) -> str:
        return f"{self.host}:{self.container}:{self.mode}"


def _parse(template: str) -> tuple[str, str, str]:
    parts = template.split(":")
    if len(parts) == 2:
        parts.append("ro")
    if len(parts) != 3 or parts[2] not in ("ro", "rw") or not parts[0] or not parts[1]:
        raise ValidationError(f"invalid mount {template!r}: expected host:container[:ro|rw]")
    return parts[0], parts[1], parts[2]


def _clean(path: str, what: str, template: str) -> str:
    if not path.startswith("/") or ".." in path.split("/") or "\x00" in path:
        raise ValidationError(f"invalid mount {template!r}: the {what} path must be absolute, without '..'")
    return posixpath.normpath(path)


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in map(posixpath.normpath, roots))


def check_template(template: str, roots: tuple[str, ...]) -> None:
    """Refuse a configured template that can never be valid (checked when a worker starts)."""
    render_mounts((template,), roots, username="u", tenant_id="t", actor_id="a")


def render_mounts(templates: tuple[str, ...], roots: tuple[str, ...], **values: str) -> list[Mount]:
    """Fill and validate each template for one actor."""
    mounts = []
    for template in templates:
        host, container, mode = _parse(template)
        try:
            host, container = host.format(**values), container.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValidationError(f"invalid mount {template!r}: unknown placeholder {exc}") from None
        host = _clean(host, "host", template)
        container = _clean(container, "container", template)
        if not _under(host, roots):
            raise ValidationError(f"invalid mount {template!r}: {host} is not under an allowed root")
        if any(container == t or container.startswith(t) for t in RESERVED_TARGETS):
            raise ValidationError(f"invalid mount {template!r}: {container} is reserved")
        mounts.append(Mount(host, container, mode))
    return mounts
