"""Turning a POSTed message into ``(message, content type)`` (reference 1.5)."""

from __future__ import annotations

import json
from typing import Any

from bottle import request

from abaco_shared.enums import ContentType
from abaco_shared.errors import PayloadTooLarge, ValidationError
from abaco_shared.http import form_fields, is_form, parse_json

__all__ = ["read_message", "check_rendered_size"]

TEXT_TYPES = ("text/plain", "")


def read_message(max_length: int) -> tuple[Any, str]:
    """The message and its ``_abaco_Content_Type``; at most ``max_length`` bytes of it."""
    if request.content_length > max_length:
        raise PayloadTooLarge(
            f"The message is {request.content_length} bytes; string and JSON messages may be at most "
            f"{max_length} bytes (they travel in the container's MSG variable)."
        )
    ctype = (request.content_type or "").split(";")[0].strip().lower()
    if is_form():
        forms = form_fields(max_length)
        if "message" not in forms:
            raise ValidationError("Missing message: send a 'message' form field or a JSON body.")
        return forms.getunicode("message"), ContentType.STR.value
    if ctype == "application/octet-stream":
        raise ValidationError("Binary messages are not supported yet: send a string or JSON body.")
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
        f"Unsupported Content-Type {ctype!r}: send text/plain, application/json, or a 'message' form field."
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
