"""Webhook POSTs against a local HTTP server, and the retry policy that decides what comes next."""

import http.server
import json
import threading
import time

import pytest

from abaco_health.delivery import Attempt, RetryPolicy, Verdict, verdict_for_status
from abaco_health.webhooks import WebhookPoster, parse_retry_after, webhook_request
from abaco_shared.webhooks import verify

EVENT = {
    "tenant_id": "dev",
    "event_type": "EXECUTION_COMPLETE",
    "actor_id": "A",
    "actor_dbid": "dev_A",
    "_abaco_link": "",
    "_abaco_webhook": "http://127.0.0.1:1/hook",
    "execution_id": "E",
}


class Receiver:
    """A local HTTP server answering each POST with the next of ``answers`` (status, headers)."""

    def __init__(self, answers, delay: float = 0.0):
        self.answers = list(answers)
        self.requests: list[tuple[str, dict, bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers), body))
                if delay:
                    time.sleep(delay)
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*answers, delay=0.0):
        made.append(Receiver(answers, delay))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _post(url, timeout=2.0):
    return WebhookPoster(timeout).post(webhook_request({**EVENT, "_abaco_webhook": url}, "s3cret"))


def test_the_post_is_the_signed_event_with_the_originals_metadata(receiver):
    r = receiver((204, {}))
    attempt = _post(f"{r.url}/hook?x-nonce=abc")
    assert attempt == Attempt(Verdict.DELIVERED, "HTTP 204")
    ((path, headers, body),) = r.requests
    assert path == "/hook?x-nonce=abc"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Abaco-Event"] == "EXECUTION_COMPLETE"
    assert verify("s3cret", body, headers["X-Abaco-Signature"])
    payload = json.loads(body)
    assert payload == {
        **EVENT,
        "_abaco_webhook": f"{r.url}/hook?x-nonce=abc",
        "_abaco_Content_Type": "application/json",
        "_abaco_username": "Abaco Event",
    }


def test_a_retry_sends_the_same_bytes_and_signature():
    one = webhook_request(EVENT, "k")
    two = webhook_request(dict(reversed(list(EVENT.items()))), "k")
    assert (one.body, one.headers) == (two.body, two.headers)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (429, Verdict.RETRY),
        (404, Verdict.GIVE_UP),
        (400, Verdict.GIVE_UP),
        (401, Verdict.GIVE_UP),
    ],
)
def test_answers_are_classified(receiver, status, verdict):
    assert _post(receiver((status, {})).url).verdict is verdict


def test_a_redirect_is_never_followed(receiver):
    target = receiver((200, {}))
    redirecting = receiver((302, {"Location": f"{target.url}/elsewhere"}))
    assert _post(redirecting.url) == Attempt(Verdict.GIVE_UP, "HTTP 302")
    assert target.requests == []


def test_a_429_says_when_to_come_back(receiver):
    assert _post(receiver((429, {"Retry-After": "7"})).url) == Attempt(Verdict.RETRY, "HTTP 429", 7.0)


def test_connection_errors_and_timeouts_are_retried(receiver):
    r = receiver()
    r.close()  # nothing listens on its port any more
    refused = _post(r.url)
    assert refused.verdict is Verdict.RETRY and "refused" in refused.detail.lower()
    slow = receiver((200, {}), delay=1.0)
    assert _post(slow.url, timeout=0.2).verdict is Verdict.RETRY


def test_a_url_urllib_cannot_post_to_is_given_up():
    assert _post("ftp://127.0.0.1/x").verdict is Verdict.GIVE_UP
    assert _post("file:///etc/passwd").verdict is Verdict.GIVE_UP
    assert verdict_for_status(301) is Verdict.GIVE_UP


def test_the_back_off_doubles_up_to_its_cap_and_stops_after_the_last_try():
    policy = RetryPolicy(attempts=5, backoff=1.0, backoff_max=60.0)
    failed = Attempt(Verdict.RETRY, "HTTP 500")
    assert [policy.next_delay(failed, n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, None]
    capped = RetryPolicy(attempts=10, backoff=1.0, backoff_max=5.0)
    assert capped.next_delay(failed, 8) == 5.0
    assert policy.next_delay(Attempt(Verdict.GIVE_UP, "HTTP 404"), 1) is None
    assert policy.next_delay(Attempt(Verdict.DELIVERED, "HTTP 200"), 1) is None


def test_retry_after_lengthens_a_pause_up_to_the_cap():
    policy = RetryPolicy(attempts=5, backoff=1.0, backoff_max=30.0)
    assert policy.next_delay(Attempt(Verdict.RETRY, "HTTP 429", 10.0), 1) == 10.0
    assert policy.next_delay(Attempt(Verdict.RETRY, "HTTP 429", 0.0), 3) == 4.0
    assert policy.next_delay(Attempt(Verdict.RETRY, "HTTP 503", 3600.0), 1) == 30.0


def test_retry_after_takes_seconds_or_an_http_date():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 30) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
