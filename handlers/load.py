"""Import every handler module once so their decorators fill the registry."""
from __future__ import annotations

import importlib

MODULES = ("handlers.capture", "handlers.lead_actions", "handlers.voice", "handlers.commands",
           "handlers.workflow", "handlers.workflow_actions", "handlers.dedup_actions")


def load_handlers() -> None:
    for name in MODULES:
        importlib.import_module(name)
