"""One typed configuration object, loaded once per process.

Precedence: dataclass defaults < TOML file (path in ``ABACO_CONFIG``) < environment variables of
the form ``ABACO__<SECTION>__<KEY>``. Every value is parsed into its declared type; an unknown
section or key, or a value of the wrong type, fails at start-up with one readable error.
The embedded defaults run the whole platform on one machine with no file at all.

The package: ``sections`` (the typed object and its defaults), ``loader`` (file and environment
into it), ``validation`` (the checks it must pass).
"""

from __future__ import annotations

from ..errors import ConfigError
from .loader import ENV_PREFIX, load_config, resolve_types
from .sections import *  # noqa: F403 - the sections' public names are the package's
from .sections import __all__ as _SECTIONS

__all__ = ["ConfigError", "ENV_PREFIX", "load_config", "resolve_types", *_SECTIONS]
