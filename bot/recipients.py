"""Where to reach a configured person: their own platform, or for supervisors acting as
supervisors, the team's `supervisor_platform` when set — among the platforms this
deployment runs."""
from __future__ import annotations

from collections.abc import Collection

from bot.outbound.message import Recipient
from crm_core.config.schema import AppConfig


class Unreachable(LookupError):
    pass


def recipient_for_rep(cfg: AppConfig, rep_id: str, enabled: Collection[str], *,
                      as_supervisor: bool = False) -> Recipient:
    rep = cfg.org.rep(rep_id)
    if rep is None:
        raise Unreachable(f"unknown rep {rep_id}")
    platform: str = rep.platform
    if as_supervisor:
        team = next((t for t in cfg.org.teams if t.supervisor == rep_id and t.supervisor_platform), None)
        if team is not None and team.supervisor_platform in rep.platform_ids:
            platform = team.supervisor_platform
    if platform not in enabled:
        reachable = [p for p in rep.platform_ids if p in enabled]
        if not reachable:
            raise Unreachable(f"rep {rep_id} has no enabled platform")
        platform = reachable[0]
    return Recipient(platform=platform, user_id=rep.platform_ids[platform], rep_id=rep_id)
