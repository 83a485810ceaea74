"""What may become a container environment variable (and a key of a stored record).

Names: a letter or ``_`` first, then letters, digits, ``_`` or ``-`` (at most 256): no ``=``,
NUL, ``$`` or ``.``, which the kernel, Docker or MongoDB refuse. Values: no NUL, at most
``MAX_VALUE`` bytes (Linux caps one environment string at 128 KiB).
"""

from __future__ import annotations

import re

from .errors import ValidationError

__all__ = ["check_name", "check_value", "MAX_VALUE"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,255}")
MAX_VALUE = 65_536


def check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(
            f"Invalid {where}: bad variable name {name!r} (a letter or '_' first, then letters, digits, '_' or '-')."
        )
    return name


def check_value(name: str, value: str, where: str) -> str:
    if "\x00" in value:
        raise ValidationError(f"Invalid {where}: the value of {name} contains a NUL byte.")
    if len(value.encode()) > MAX_VALUE:
        raise ValidationError(f"Invalid {where}: the value of {name} is over {MAX_VALUE} bytes.")
    return value
