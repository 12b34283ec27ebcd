"""Reading rendered action arguments into the kinds the catalogue promises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idflow.engine.context import MISSING, lookup
from idflow.engine.contract import ActionCall
from idflow.errors import InvalidArgument

# Where a user action finds its user when the step names none, in order.
USER_ID_FALLBACKS = ("triggeringEvent.userId", "client.userId", "user.userId")


def text(call: ActionCall, name: str, *, required: bool = False) -> str | None:
    """Return a string argument; numbers are accepted and turned into text.

    Raises:
        InvalidArgument: when it is required and blank, or not a scalar.
    """
    value = call.arguments.get(name)
    if value is None or value is MISSING or value == "":
        if required:
            raise InvalidArgument(
                f"Argument {name!r} rendered empty: expected a non-blank value."
            )
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidArgument(f"Argument {name!r} is {value!r}: expected text.")
    return str(value)


def text_list(call: ActionCall, name: str, *, required: bool = False) -> list[str]:
    """Return a list of strings, from a list or from comma-separated text.

    Raises:
        InvalidArgument: when it is required and empty, or of another kind.
    """
    value = call.arguments.get(name)
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        items = [str(item).strip() for item in value]
    elif value is None or value is MISSING:
        items = []
    else:
        raise InvalidArgument(
            f"Argument {name!r} is {value!r}: expected a list or comma-separated text."
        )
    items = [item for item in items if item]
    if required and not items:
        raise InvalidArgument(
            f"Argument {name!r} is empty: expected at least one value."
        )
    return items


def mapping(call: ActionCall, name: str) -> dict[str, Any] | None:
    """Return an object argument, or None when it is not given.

    Raises:
        InvalidArgument: when it is given but is not an object.
    """
    value = call.arguments.get(name)
    if value is None or value is MISSING or value == "":
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"Argument {name!r} is {value!r}: expected an object.")
    return dict(value)


def user_ref(call: ActionCall) -> str:
    """Return the user a user action acts on: its argument, else the fallbacks.

    Raises:
        InvalidArgument: when neither the argument nor any fallback names a user.
    """
    given = text(call, "userId")
    if given:
        return given
    for path in USER_ID_FALLBACKS:
        value = lookup(call.context, path)
        if isinstance(value, str) and value:
            return value
    raise InvalidArgument(
        "No user to act on: give the 'userId' argument, or run the flow with a "
        "triggering event or a 'userId' input, or load a user first."
    )
