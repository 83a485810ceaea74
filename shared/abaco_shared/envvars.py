"""What may become a container environment variable (and a key of a stored record).

Names: a letter or ``_`` first, then letters, digits, ``_`` or ``-`` (at most 256): no ``=``,
NUL, ``$`` or ``.``, which the kernel, Docker or MongoDB refuse. Values: no NUL, at most
``MAX_VALUE`` bytes (Linux caps one environment string at 128 KiB).
"""

from __future__ import annotations

import re

from .errors import ValidationError

__all__ = ["check_name", "check_value", "MAX_VALUE", "sender_may_set"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,255}")
MAX_VALUE = 65_536


# names a message's sender may not set: they change how the container's programs load and run
# (the owner's image and default_environment decide those), or are the platform's own
_PROTECTED = frozenset(
    {
        "PATH",
        "HOME",
        "SHELL",
        "ENV",
        "BASH_ENV",
        "IFS",
        "MSG",
        "HOSTNAME",
        "PERL5LIB",
        "PERL5OPT",
        "NODE_OPTIONS",
        "NODE_PATH",
        "RUBYOPT",
        "RUBYLIB",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "CLASSPATH",
        "GCONV_PATH",
        "LOCPATH",
        "TMPDIR",
    }
)
_PROTECTED_PREFIXES = ("LD_", "PYTHON", "_abaco_", "_actor_configs", "DYLD_")


def sender_may_set(name: str) -> bool:
    """True for a query-parameter name that may become an environment variable of the container."""
    return name not in _PROTECTED and not name.upper().startswith(tuple(p.upper() for p in _PROTECTED_PREFIXES))


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
