"""Turning a POSTed message into an IncomingMessage (reference 1.5).

A string or JSON message is read whole (it travels in the container's environment); a binary
one (``application/octet-stream``) is not read here: its body is streamed into the blob store
when the message is submitted, so it is never held whole in memory.
"""

from __future__ import annotations

import json
from typing import Any

from bottle import request

from abaco_shared.blobs import Upload
from abaco_shared.enums import ContentType
from abaco_shared.errors import LengthRequired, PayloadTooLarge, ValidationError
from abaco_shared.http import form_fields, is_form, parse_json
from abaco_shared.workflows.mailbox import IncomingMessage

__all__ = ["read_incoming", "read_message", "binary_length", "check_rendered_size", "is_binary"]

TEXT_TYPES = ("text/plain", "")


def _media_type() -> str:
    return (request.content_type or "").split(";")[0].strip().lower()


def is_binary() -> bool:
    """The request's body is a binary message (``application/octet-stream``)."""
    return _media_type() == ContentType.BINARY.value


def read_incoming(max_length: int, max_binary: int, params: dict[str, str]) -> IncomingMessage:
    """The POSTed message with the query parameters ``params``: a binary body of at most
    ``max_binary`` bytes (recorded as ``{"binary_size": N}``, its bytes left in the request to
    stream), else a string or JSON message of at most ``max_length`` bytes."""
    if is_binary():
        size = binary_length(max_binary)
        payload = Upload(request.environ["wsgi.input"], size)
        return IncomingMessage({"binary_size": size}, ContentType.BINARY.value, params, payload=payload)
    message, content_type = read_message(max_length)
    if content_type == ContentType.STR.value and "\x00" in message:
        raise ValidationError("The message contains a NUL character, which the container's environment cannot carry.")
    check_rendered_size(message, content_type, max_length)
    return IncomingMessage(message, content_type, params)


def binary_length(max_binary: int) -> int:
    """The size a binary body declares: 411 without a Content-Length, 413 over ``max_binary``,
    400 when it is empty (checked before a byte of it is read)."""
    declared = (request.environ.get("CONTENT_LENGTH") or "").strip()
    if not declared:
        raise LengthRequired("Binary messages need a Content-Length header: the payload's size in bytes.")
    if not declared.isdigit():
        raise ValidationError(f"Invalid Content-Length header: {declared[:40]!r}.")
    size = int(declared)
    if size > max_binary:
        raise PayloadTooLarge(f"The binary message is {size} bytes; binary messages may be at most {max_binary} bytes.")
    if size == 0:
        raise ValidationError("Missing message: the request body is empty.")
    return size


def read_message(max_length: int) -> tuple[Any, str]:
    """A string or JSON message and its ``_abaco_Content_Type``; at most ``max_length`` bytes of it."""
    if request.content_length > max_length:
        raise PayloadTooLarge(
            f"The message is {request.content_length} bytes; string and JSON messages may be at most "
            f"{max_length} bytes (they travel in the container's MSG variable)."
        )
    ctype = _media_type()
    if is_form():
        forms = form_fields(max_length)
        if "message" not in forms:
            raise ValidationError("Missing message: send a 'message' form field or a JSON body.")
        message = forms.getunicode("message")  # None: not UTF-8
        if message is None:
            raise ValidationError("The 'message' form field is not valid UTF-8 text.")
        return message, ContentType.STR.value
    raw = request.body.read()
    if not raw.strip():
        raise ValidationError("Missing message: the request body is empty.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("message POST body could not be serialized: it is not UTF-8 text.") from None
    if ctype == "application/json" or ctype.endswith("+json"):
        value = parse_json(text, "message POST body could not be serialized: the body", "is invalid JSON")
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return value["message"], ContentType.STR.value  # reference 1.5 (1): a "message" field is a string message
        return value, ContentType.JSON.value
    if ctype in TEXT_TYPES:
        return text, ContentType.STR.value
    raise ValidationError(
        f"Unsupported Content-Type {ctype!r}: send text/plain, application/json, application/octet-stream, "
        "or a 'message' form field."
    )


def check_rendered_size(message: Any, content_type: str, max_length: int) -> None:
    """A JSON message reaches the container twice (MSG as a Python repr, and exact JSON); each
    rendering must fit, since Linux refuses an environment string over 128 KiB."""
    if content_type != ContentType.JSON.value:
        return
    for rendered in (str(message), json.dumps(message)):
        size = len(rendered.encode())
        if size > max_length:
            raise PayloadTooLarge(
                f"The message renders to {size} bytes in the container's environment; at most {max_length} bytes fit."
            )
