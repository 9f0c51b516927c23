"""Domain notices: what a service wants someone to be told. crm_core never renders or
sends; handlers/notify.py turns each notice into a card or text and sends it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Notice:
    kind: str                      # e.g. "lead.assigned", "fuse.reminder", "fuse.supervisor"
    to_rep: str                    # config rep id of the recipient
    lead_id: int | None = None
    customer_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None  # the same logical notice goes out once
    as_supervisor: bool = False    # sent to the team's supervisor_platform when configured

    # Kinds used across the codebase (kept here so they have one obvious home):
    # lead.assigned, lead.pool, routing.paused, fuse.reminder, fuse.supervisor, fuse.diagnosis,
    # followup.supervisor, pool.warning, pool.returned, dedup.prompt, dedup.review, dedup.merged,
    # handover.summary, health.red, digest.rep, digest.supervisor, merge.report, fuse.help

    @property
    def to_supervisor(self) -> bool:
        """Goes to someone in their supervisor role (their team's supervisor_platform)."""
        return self.as_supervisor or self.kind in SUPERVISOR_KINDS


SUPERVISOR_KINDS = frozenset({"fuse.supervisor", "fuse.diagnosis", "followup.supervisor", "lead.pool",
                              "routing.paused", "fuse.help", "digest.supervisor"})
