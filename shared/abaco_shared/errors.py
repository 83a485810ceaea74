"""One error tree for the whole platform; the HTTP edge maps each class to a status code."""

from __future__ import annotations

__all__ = [
    "AbacoError",
    "ValidationError",
    "AuthenticationError",
    "PermissionDenied",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "PayloadTooLarge",
    "LengthRequired",
    "TooManyRequests",
    "WaitTimeout",
    "ChannelError",
    "ChannelTimeout",
    "StoreUnavailable",
    "DockerError",
    "ConfigError",
]


class AbacoError(Exception):
    """Root of every error the platform raises on purpose.

    Raise sites choose a class, never a status number: ``http_status`` and ``code`` are class
    attributes so that the same kind of failure always maps to the same response.
    """

    http_status = 500
    code = "internal"

    def __init__(self, message: str = "", **context: object) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip().splitlines()[0]
        self.context = context

    def __str__(self) -> str:
        return self.message


class ValidationError(AbacoError):
    """The request is malformed or a field has an invalid value."""

    http_status = 400
    code = "invalid"


class AuthenticationError(AbacoError):
    """No valid credentials were presented."""

    http_status = 401
    code = "unauthenticated"


class PermissionDenied(AbacoError):
    """The caller is known but lacks the permission this request needs."""

    http_status = 403
    code = "forbidden"


class NotFound(AbacoError):
    """The requested object does not exist (or is not visible to the caller)."""

    http_status = 404
    code = "not_found"


class MethodNotAllowed(AbacoError):
    """Invalid HTTP method on requested resource."""

    http_status = 405
    code = "method_not_allowed"


class Conflict(AbacoError):
    """The request conflicts with the current state of the object."""

    http_status = 409
    code = "conflict"


class PayloadTooLarge(AbacoError):
    """The request body exceeds the configured maximum size."""

    http_status = 413
    code = "too_large"


class LengthRequired(AbacoError):
    """The request body must declare its size with a Content-Length header."""

    http_status = 411
    code = "length_required"


class TooManyRequests(AbacoError):
    """Too many requests of this kind are in flight; try again later."""

    http_status = 429
    code = "too_many_requests"


class WaitTimeout(AbacoError):
    """The execution did not finish within the wait; it keeps running."""

    http_status = 504
    code = "timeout"


class ChannelError(AbacoError):
    """The message broker could not be reached or refused the operation."""

    http_status = 503
    code = "channel_unavailable"


class ChannelTimeout(ChannelError):
    """No reply arrived on a request/reply channel within its timeout."""

    code = "channel_timeout"


class StoreUnavailable(AbacoError):
    """A backing store (MongoDB, Redis or RabbitMQ) cannot be reached; try again shortly."""

    http_status = 503
    code = "store_unavailable"


class DockerError(AbacoError):
    """The Docker engine failed an operation."""

    http_status = 502
    code = "docker"


class ConfigError(AbacoError):
    """The configuration file or environment holds an unknown key or a bad value."""

    code = "config"
