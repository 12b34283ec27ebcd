"""`GET /openapi.json` over real HTTP: open to all and equal to the committed copy."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.acceptance.conftest import Server
from tests.acceptance.wire import ok

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_the_served_document_is_the_committed_one(api: Server) -> None:
    served = ok(httpx.get(f"{api.base_url}/openapi.json", timeout=30.0))

    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert served == committed, "docs/openapi.json is stale: run `make openapi`."
