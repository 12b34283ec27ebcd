"""Connector settings from the environment, each checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from idflow.connectors.config import ConnectorSettings
from idflow.errors import ConfigurationError


def test_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    settings = ConnectorSettings.from_env(
        {
            "IDFLOW_SECRET_KEY_FILE": "/keys/idflow.key",
            "IDFLOW_OUTBOUND_ALLOW": "10.0.0.0/8",
            "IDFLOW_CONNECTOR_MAX_RESPONSE_BYTES": "2048",
            "IDFLOW_CONNECTOR_MAX_TIMEOUT_SECONDS": "5.5",
            "IDFLOW_CONNECTOR_SQLITE_DIRS": str(tmp_path),
            "IDFLOW_DATABASE_URL": "sqlite://",
        }
    )

    assert dict(settings.env) == {"IDFLOW_SECRET_KEY_FILE": "/keys/idflow.key"}
    assert [str(n) for n in settings.outbound.allow] == ["10.0.0.0/8"]
    assert settings.max_response_bytes == 2048
    assert settings.max_timeout_seconds == 5.5
    assert settings.sqlite_dirs == (tmp_path.resolve(),)


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_limit_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(
        ConfigurationError, match="IDFLOW_CONNECTOR_MAX_TIMEOUT_SECONDS"
    ):
        ConnectorSettings.from_env({"IDFLOW_CONNECTOR_MAX_TIMEOUT_SECONDS": value})
