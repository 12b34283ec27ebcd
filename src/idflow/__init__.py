"""idflow: a self-hosted engine for identity management flows.

The names below are the package's public surface for embedding idflow in a
Python program; a unit test holds the list still. Everything else is reached
through the `idflow` command or the management API.
"""

from __future__ import annotations

from importlib.metadata import version as _version

from idflow.errors import IdflowError
from idflow.runtime import Runtime
from idflow.services.runs import start_run
from idflow.settings import Settings

__version__ = _version("idflow")

__all__ = ["IdflowError", "Runtime", "Settings", "__version__", "start_run"]
