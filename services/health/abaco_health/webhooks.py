"""Webhook POSTs: the event as JSON, signed with the actor's secret, one short try at a time.

The body is the event plus ``_abaco_Content_Type`` and ``_abaco_username`` (as the original's),
serialised once per event, so every retry sends the same bytes with the same signature. The
headers: ``Content-Type: application/json``, ``X-Abaco-Signature: sha256=<hex>`` (see
``abaco_shared.webhooks``), ``X-Abaco-Event: <event_type>``. Redirects are never followed and no
proxy from the environment is used; a try waits ``timeout`` seconds at most for each step.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from abaco_shared.events import EVENT_EXECUTOR
from abaco_shared.webhooks import EVENT_HEADER, SIGNATURE_HEADER, signature

from .delivery import Attempt, Verdict, verdict_for_status

__all__ = ["WebhookRequest", "WebhookPoster", "webhook_request", "parse_retry_after"]

USER_AGENT = "abaco-events/1"


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]


def webhook_request(event: dict[str, Any], secret: str) -> WebhookRequest:
    """The signed POST of one event to its actor's ``_abaco_webhook``."""
    payload = {**event, "_abaco_Content_Type": "application/json", "_abaco_username": EVENT_EXECUTOR}
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(secret, body),
        EVENT_HEADER: str(event.get("event_type", "")),
    }
    return WebhookRequest(str(event["_abaco_webhook"]), body, headers)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer like any other: urllib raises it as an HTTPError instead of following."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookPoster:
    """Makes one POST and says what came of it (it never raises)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.opener = urllib.request.build_opener(_NoRedirects(), urllib.request.ProxyHandler({}))

    def post(self, req: WebhookRequest) -> Attempt:
        if urllib.parse.urlsplit(req.url).scheme.lower() not in ("http", "https"):
            return Attempt(Verdict.GIVE_UP, "bad URL: only http:// and https:// webhooks are posted to")
        request = urllib.request.Request(req.url, data=req.body, headers=dict(req.headers), method="POST")
        try:
            with self.opener.open(request, timeout=self.timeout) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:  # an answer other than 2xx
            retry_after = parse_retry_after(exc.headers.get("Retry-After")) if exc.headers else None
            exc.close()
            return Attempt(verdict_for_status(exc.code), f"HTTP {exc.code}", retry_after)
        except ValueError as exc:  # not a URL urllib can POST to
            return Attempt(Verdict.GIVE_UP, f"bad URL: {exc}")
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, DNS...
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return Attempt(Verdict.RETRY, f"{type(exc).__name__}: {reason}")
        return Attempt(verdict_for_status(status), f"HTTP {status}")
