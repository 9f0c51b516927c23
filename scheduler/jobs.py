"""The job table: config name (under `schedules:`) → a module-level function (rt, now).
Each feature registers its jobs here so `crm-bot scheduler jobs` can list them."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

JobFn = Callable[[Any, datetime], object]


def registered_jobs() -> dict[str, JobFn]:
    jobs: dict[str, JobFn] = {}
    return jobs
