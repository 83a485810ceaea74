"""An actor that calls the API with its own token (image ``abaco/pyactor``, scripts/build-images.sh).

It reads its context with the SDK (sdk/abaco_actor.py, on the image's path); if its message names
a target actor (JSON ``{"target": "<actor id>", ...}``, or the string ``target=<actor id>``) it
sends that actor a message; it reads its own execution; and it records in its own state how many
messages it has seen and the last one. Each step prints one line ``CALLER {json}``; the token is
never printed, only whether there was one. Without a token it calls nothing and exits 0; a
refused call is printed and makes it exit 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from abaco_actor import AbacoActorError, get_context, get_execution, send_message, update_state


def say(step: str, **fields: Any) -> None:
    print("CALLER " + json.dumps({"step": step, **fields}, default=str), flush=True)


def target_of(message: Any) -> str:
    if isinstance(message, dict) and isinstance(message.get("target"), str):
        return message["target"]
    if isinstance(message, str) and message.startswith("target="):
        return message[len("target=") :].strip()
    return ""


def main() -> int:
    ctx = get_context()
    say("context", actor_id=ctx.actor_id, execution_id=ctx.execution_id, had_token=bool(ctx.access_token))
    if not ctx.access_token:
        return 0
    failed = False
    try:
        target = target_of(ctx.message)
        if target:
            sent = send_message(target, {"from": ctx.actor_id, "execution": ctx.execution_id})
            say("sent", target=target, execution_id=sent)
        me = get_execution()
        say("execution", status=me["status"], executor=me.get("executor"))
        previous = ctx.state if isinstance(ctx.state, dict) else {}
        count = previous.get("count") if isinstance(previous.get("count"), int) else 0
        state = {"count": count + 1, "last": ctx.message, "sent_to": target}
        actor = update_state(state)
        say("state", state=actor["state"])
    except AbacoActorError as exc:
        say("refused", status=exc.status, message=str(exc))
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
