"""Abaco common library shared by every service.

Nothing here connects to anything at import time: services call ``load_config()`` and the
``connect_*`` helpers from their ``main()``.
"""

__version__ = "0.1.0"
