"""Connector type name to its `ConnectorKind`: the one table services read."""

from __future__ import annotations

from idflow.connectors import chat, http, smtp, sql
from idflow.connectors.base import ConnectorKind

KINDS: dict[str, ConnectorKind] = {
    kind.name: kind for kind in (http.KIND, smtp.KIND, chat.SLACK, chat.TEAMS, sql.KIND)
}
