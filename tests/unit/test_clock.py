from __future__ import annotations

import os

from idflow.clock import new_id, now_ms


def test_ids_carry_their_prefix_and_26_base32_characters_and_never_repeat() -> None:
    ids = [new_id("R") for _ in range(20_000)]

    assert len(set(ids)) == len(ids)
    assert all(i.startswith("R") and len(i) == 27 for i in ids)
    assert not set("".join(ids)[1:]) & set("ILOU")


def test_ids_sort_by_the_millisecond_they_were_made_in() -> None:
    earlier = new_id("U")
    start = now_ms()
    while now_ms() == start:
        pass

    assert new_id("U")[:11] > earlier[:11]


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(writer, new_id("A").encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    theirs = os.read(reader, 64).decode()
    os.close(reader)

    assert theirs[11:] != new_id("A")[11:]


def test_the_first_ten_characters_are_the_creation_millisecond_in_crockford_base32() -> (
    None
):
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    before = now_ms()
    made = new_id("R")
    after = now_ms()

    stamp = 0
    for char in made[1:11]:
        stamp = stamp * 32 + alphabet.index(char)
    assert before <= stamp <= after
    # Every character, the random ones too, is a digit of the same alphabet.
    assert all(char in alphabet for char in made[1:])
