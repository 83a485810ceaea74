"""Unit tests of clientg: credentials for starting workers, actor tokens, revocation, and the
request/reply handling on the clients channel."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from abaco_clientg.clients import ACTOR_CLAIM, WORKER_CLAIM, ClientGenerator
from abaco_shared import actors, credentials, workers
from abaco_shared.auth import Authenticator
from abaco_shared.channels import ClientsChannel
from abaco_shared.config import AuthConfig
from abaco_shared.enums import Role, WorkerStatus
from abaco_shared.errors import AuthenticationError
from abaco_shared.messages import ClientReply, ClientRequest
from abaco_shared.signing import RsaKey
from abaco_shared.testing import FakeDelivery
from abaco_shared.tokens import peek_claims

PREFIX = "abaco:"
SECRET = b"s" * 32
WID = "W1"

pytestmark = pytest.mark.usefixtures("mongo")


@pytest.fixture(scope="module")
def public_only():
    return RsaKey(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())


@pytest.fixture
def authenticator(public_only):
    return Authenticator(AuthConfig(), SECRET, tenant_keys={"pub": public_only})


@pytest.fixture
def clientg(broker, redis_client, authenticator):
    return ClientGenerator(broker, redis_client, PREFIX, authenticator, max_ttl=900)


def token_actor(tenant="dev", owner="alice", **values):
    return actors.create(tenant, owner, {"image": "abaco/echo:latest", "token": True, **values})


def starting_worker(actor, worker_id=WID, status=WorkerStatus.CREATING_CONTAINER):
    worker = workers.create_requested(actor, worker_id)
    for s in (WorkerStatus.SPAWNER_SETUP, WorkerStatus.CREATING_CONTAINER, WorkerStatus.UPDATING_STORE):
        if worker.status == status.value:
            break
        workers.set_status(worker.db_id, s)
        worker = workers.get(worker.db_id)
    return worker


def req(command, actor, worker_id=WID, **kw) -> ClientRequest:
    return ClientRequest(command=command, tenant=actor.tenant, actor_dbid=actor.db_id, worker_id=worker_id, **kw)


@pytest.fixture
def actor():
    return token_actor()


@pytest.fixture
def issued(clientg, actor):
    """A credential for a worker being started: (client id, secret)."""
    starting_worker(actor)
    reply = clientg.handle(req("new", actor))
    assert reply.status == "ok", reply.message
    workers.set_status(workers.key_for(actor.db_id, WID), WorkerStatus.UPDATING_STORE)
    return reply.client_id, reply.secret


def ask_token(clientg, actor, issued, **kw) -> ClientReply:
    client_id, secret = issued
    return clientg.handle(req("token", actor, client_id=kw.pop("client_id", client_id), secret=secret, **kw))


# -- new ------------------------------------------------------------------------------------------


def test_new_records_a_hashed_credential_and_replies_the_secret(clientg, actor, redis_client):
    starting_worker(actor)

    reply = clientg.handle(req("new", actor))

    assert (reply.status, reply.client_id) == ("ok", f"dev_{WID}") and len(reply.secret) >= 40
    stored = credentials.lookup(redis_client, PREFIX, "dev", WID)
    assert stored["actor_dbid"] == actor.db_id and stored["client_id"] == f"dev_{WID}"
    assert reply.secret not in str(redis_client.hgetall(credentials.key_for(PREFIX, "dev", WID)))
    assert reply.secret not in repr(reply)


@pytest.mark.parametrize(
    "case, says",
    [
        ("no-token", "does not use tokens"),
        ("no-worker", "is not being started"),
        ("running-worker", "is not being started"),
        ("no-actor", "no actor"),
        ("other-tenant", "no actor"),
    ],
)
def test_new_is_refused_unless_a_token_actors_worker_is_being_started(clientg, redis_client, case, says):
    actor = token_actor(token=case != "no-token")
    if case != "no-worker":
        starting_worker(actor, status=WorkerStatus.READY if case == "running-worker" else WorkerStatus.SPAWNER_SETUP)
    request = req("new", actor)
    if case == "no-actor":
        request.actor_dbid = "dev_nope"
    if case == "other-tenant":
        request.tenant = "other"

    reply = clientg.handle(request)

    assert reply.status == "error" and says in reply.message
    assert reply.secret == "" and redis_client.keys("*") == []


# -- token ------------------------------------------------------------------------------------------


def test_token_is_the_owners_with_the_user_role_only_and_names_the_actor(clientg, authenticator, actor, issued):
    reply = ask_token(clientg, actor, issued, ttl=120)

    assert reply.status == "ok" and reply.token and reply.token not in repr(reply)
    who = authenticator.identify_token(reply.token)
    assert (who.user, who.tenant, who.roles) == ("alice", "dev", frozenset({Role.USER}))
    claims = peek_claims(reply.token)
    assert claims[ACTOR_CLAIM] == actor.actor_id and claims[WORKER_CLAIM] == WID
    assert claims["roles"] == ["user"]
    assert 115 <= claims["exp"] - time.time() <= 121


@pytest.mark.parametrize("asked, lasts", [(0, 900), (100_000, 900), (5, 60), (300, 300)])
def test_token_lifetime_is_what_is_asked_within_bounds(clientg, actor, issued, asked, lasts):
    claims = peek_claims(ask_token(clientg, actor, issued, ttl=asked).token)

    assert claims["exp"] - claims["iat"] == lasts


def test_a_wrong_secret_or_client_id_gets_no_token(clientg, actor, issued):
    client_id, secret = issued

    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")  # never the right secret by chance
    wrong_secret = clientg.handle(req("token", actor, client_id=client_id, secret=flipped))
    wrong_client = clientg.handle(req("token", actor, client_id="dev_W9", secret=secret))
    no_secret = clientg.handle(req("token", actor, client_id=client_id))

    for reply in (wrong_secret, wrong_client, no_secret):
        assert reply.status == "error" and reply.token == "" and "credential" in reply.message


def test_another_workers_credential_gets_no_token(clientg, actor, issued):
    client_id, secret = issued
    starting_worker(actor, "W2")

    reply = clientg.handle(req("token", actor, worker_id="W2", client_id=client_id, secret=secret))

    assert reply.status == "error" and reply.token == ""


def test_a_revoked_credential_gets_no_more_tokens(clientg, actor, issued, redis_client):
    assert ask_token(clientg, actor, issued).status == "ok"

    assert clientg.handle(req("delete", actor)).status == "ok"

    reply = ask_token(clientg, actor, issued)
    assert reply.status == "error" and reply.token == "" and "revoked" in reply.message
    assert redis_client.keys("*") == []


def test_no_token_once_the_actor_stops_using_tokens_or_is_gone(clientg, actor, issued):
    actors.apply_update(actor, {"token": False}, force=False)
    assert ask_token(clientg, actor, issued).status == "error"

    actors.delete(actor.db_id)
    assert ask_token(clientg, actor, issued).status == "error"


def test_a_credential_whose_worker_is_gone_is_revoked_when_used(clientg, actor, issued, redis_client):
    workers.delete(workers.key_for(actor.db_id, WID))

    reply = ask_token(clientg, actor, issued)

    assert reply.status == "error" and "worker is gone" in reply.message
    assert credentials.lookup(redis_client, PREFIX, "dev", WID) == {}


def test_a_tenant_whose_key_cannot_sign_gets_an_error_not_a_crash(clientg):
    actor = token_actor(tenant="pub")
    starting_worker(actor)
    issued = clientg.handle(req("new", actor))

    reply = ask_token(clientg, actor, (issued.client_id, issued.secret))

    assert reply.status == "error" and "public key" in reply.message


def test_a_token_from_another_tenants_key_is_refused_by_the_api(clientg, issued, actor):
    token = ask_token(clientg, actor, issued).token
    other = Authenticator(AuthConfig(), b"o" * 32)

    with pytest.raises(AuthenticationError):
        other.identify_token(token)


# -- delete and unknown commands ----------------------------------------------------------------------


def test_delete_of_an_unknown_credential_is_fine(clientg, actor):
    assert clientg.handle(req("delete", actor, worker_id="nobody")).status == "ok"


def test_an_unknown_command_is_an_error_and_stores_nothing(clientg, actor, redis_client):
    reply = clientg.handle(req("mint", actor))

    assert reply.status == "error" and "'mint'" in reply.message
    assert redis_client.keys("*") == []


# -- on_request: the consumer callback ------------------------------------------------------------------


@pytest.fixture
def reply_queue(broker):
    """A private reply queue, declared before the request as Broker.request does."""
    queue = broker.queue("reply_test", durable=False)
    with broker.connect() as conn:
        queue.bind(conn.default_channel).declare()
    return queue


def take(broker, queue):
    """The next raw message on ``queue`` (with its properties), or None."""
    with broker.connect() as conn:
        return queue.bind(conn.default_channel).get(no_ack=True)


def ask(clientg, reply_queue, body, correlation_id="corr-1"):
    delivery = FakeDelivery(body=body, properties={"reply_to": reply_queue.name, "correlation_id": correlation_id})
    clientg.on_request(body, delivery)
    return delivery, take(clientg.broker, reply_queue)


def test_on_request_replies_on_the_reply_queue_with_the_correlation_id(clientg, actor, reply_queue):
    starting_worker(actor)

    delivery, msg = ask(clientg, reply_queue, req("new", actor).to_dict(), correlation_id="corr-42")

    assert delivery.settled == "ack"
    assert msg.properties["correlation_id"] == "corr-42"
    reply = ClientReply.from_dict(msg.decode())
    assert reply.status == "ok" and reply.client_id == f"dev_{WID}" and reply.secret
    assert take(clientg.broker, reply_queue) is None  # exactly one reply


def test_a_request_sent_on_the_clients_channel_is_answered(clientg, broker, actor, reply_queue):
    """The properties clientg reads are the ones kombu delivers for a request."""
    starting_worker(actor)
    channel = ClientsChannel(broker)
    broker.publish(channel.queue, req("new", actor).to_dict(), reply_to=reply_queue.name, correlation_id="c-7")
    raw = take(broker, channel.queue)

    clientg.on_request(raw.decode(), FakeDelivery(body=raw.decode(), properties=raw.properties))

    msg = take(broker, reply_queue)
    assert msg.properties["correlation_id"] == "c-7" and msg.decode()["client_id"] == f"dev_{WID}"


def test_a_told_revocation_is_handled_without_a_reply_queue(clientg, broker, actor, issued, redis_client):
    ClientsChannel(broker).tell(req("delete", actor))
    raw = take(broker, ClientsChannel(broker).queue)
    delivery = FakeDelivery(body=raw.decode(), properties=raw.properties)

    clientg.on_request(raw.decode(), delivery)

    assert delivery.settled == "ack" and redis_client.keys("*") == []


@pytest.mark.parametrize(
    "body, says",
    [
        ({"v": 1, "command": "new", "tenant": "dev"}, "missing field"),
        ({"v": 9, "command": "new", "tenant": "dev", "actor_id": "a", "worker_id": "w"}, "schema version"),
        ({"v": 1, "command": "new", "tenant": "dev", "actor_id": "a", "worker_id": 7}, "wrong type"),
        ({"v": 1, "command": "token", "tenant": "dev", "actor_id": "a", "worker_id": "w", "ttl": "9"}, "wrong type"),
        (["not", "an", "object"], "JSON object"),
    ],
    ids=["missing-field", "wrong-version", "wrong-type", "wrong-ttl-type", "not-an-object"],
)
def test_a_bad_body_gets_an_error_reply(clientg, reply_queue, redis_client, body, says):
    delivery, msg = ask(clientg, reply_queue, body)

    assert delivery.settled == "ack"
    reply = ClientReply.from_dict(msg.decode())
    assert reply.status == "error" and says in reply.message
    assert redis_client.keys("*") == []


def test_a_store_failure_gets_an_error_reply_not_silence(clientg, actor, reply_queue, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("redis is down")

    monkeypatch.setattr(credentials, "verify", broken)

    delivery, msg = ask(clientg, reply_queue, req("token", actor, client_id="c", secret="s").to_dict())

    assert delivery.settled == "ack"
    assert ClientReply.from_dict(msg.decode()).message == "clientg could not handle the request"


def test_a_request_without_a_reply_queue_is_acked_and_dropped(clientg, actor, reply_queue):
    delivery = FakeDelivery(body=req("new", actor).to_dict())

    clientg.on_request(req("new", actor).to_dict(), delivery)

    assert delivery.settled == "ack"
    assert take(clientg.broker, reply_queue) is None
