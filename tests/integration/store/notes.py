"""A scratch table for store tests that commit: `notes`, and `pins` whose check waits for COMMIT."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from idflow.store.database import Store


def create_notes(store: Store) -> None:
    """Create `notes (name)` and `pins (note)`, pins referring to notes.

    The reference is deferred, so a pin to a missing note passes its INSERT and
    fails the COMMIT: a way to make a real commit fail.
    """
    with store.begin() as conn:
        conn.execute(text("CREATE TABLE notes (name TEXT PRIMARY KEY)"))
        conn.execute(
            text(
                "CREATE TABLE pins (note TEXT REFERENCES notes(name) "
                "DEFERRABLE INITIALLY DEFERRED)"
            )
        )


def insert_note(conn: Any, name: str) -> None:
    """Add a note in the caller's transaction."""
    conn.execute(text("INSERT INTO notes VALUES (:n)"), {"n": name})


def stored_notes(store: Store) -> list[str]:
    """The names another connection sees: what has been committed."""
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT name FROM notes ORDER BY 1"))]
