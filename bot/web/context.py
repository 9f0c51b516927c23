"""The runtime a Flask app serves: attached to the app by `create_app`, read by the views
(through `current_runtime()`) and by code holding the app (through `runtime_of(app)`)."""
from __future__ import annotations

from flask import Flask, current_app

from bot.runtime import Runtime

RUNTIME_KEY = "crm_runtime"


def attach_runtime(app: Flask, runtime: Runtime) -> None:
    app.extensions[RUNTIME_KEY] = runtime


def runtime_of(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions[RUNTIME_KEY]
    return runtime


def current_runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    return runtime_of(current_app)
