"""Tests that the registry and the action catalogue describe the same actions."""

from __future__ import annotations

from idflow.actions.registry import ACTION_IMPLEMENTATIONS
from idflow.flows.catalogue import ACTIONS
from idflow.flows.model import END_ACTION


def test_every_catalogue_action_but_end_has_an_implementation() -> None:
    missing = set(ACTIONS) - {END_ACTION} - set(ACTION_IMPLEMENTATIONS)

    assert missing == set()


def test_the_registry_implements_only_catalogue_actions() -> None:
    assert set(ACTION_IMPLEMENTATIONS) <= set(ACTIONS)
    assert END_ACTION not in ACTION_IMPLEMENTATIONS


def test_each_implementation_documents_the_action_id_it_serves() -> None:
    for action_id, implementation in ACTION_IMPLEMENTATIONS.items():
        assert (implementation.__doc__ or "").startswith(f"`{action_id}`:"), action_id
