from __future__ import annotations

import idflow


def test_public_names_are_exactly_the_pinned_sorted_list() -> None:
    expected = ["IdflowError", "Runtime", "Settings", "__version__", "start_run"]

    assert idflow.__all__ == expected
    assert sorted(idflow.__all__) == idflow.__all__
    assert all(hasattr(idflow, name) for name in expected)
