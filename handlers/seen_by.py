"""What a card's or reply's reader may see of the rows it carries (issue 18, crm_core/visibility.py),
for the builders that render a notice's plain data: the 晨会打卡 card and 《重点客户日志》, the 日报
(the rep's own and the one forwarded to a supervisor), 我的审批 and the approvals API list.
One `SeenBy` per reader; money through `workflow_cards.amount_for` (the figure, a size band, or
nothing), notes through `Viewer.text` (hidden, `***`, or with phones masked where the policy says).

An unknown reader (a rep no longer in the config) sees no notes and amounts as size bands."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_core.authz import LeadFacts, Principal
from crm_core.config.schema import AppConfig
from crm_core.visibility import Viewer, mask
from handlers.lead_card import money


def lead_row(item: Mapping[str, Any]) -> LeadFacts | None:
    """The lead an item of a notice is about (`lead_id`, `owner`, `team`), for per-row rules."""
    if item.get("lead_id") is None:
        return None
    return LeadFacts(id=int(item["lead_id"]), owner=item.get("owner"), team_id=item.get("team"),
                     status=str(item.get("status") or "open"))


@dataclass(frozen=True)
class SeenBy:
    viewer: Viewer | None

    @classmethod
    def of(cls, cfg: AppConfig, rep_id: str | None) -> "SeenBy":
        rep = cfg.org.rep(rep_id) if rep_id else None
        return cls(Viewer.of(cfg, Principal.of(rep)) if rep is not None else None)

    def amount(self, yuan: int | None, row: LeadFacts | None = None) -> str | None:
        """Money as text (¥50万 / a size band), None when hidden or unknown."""
        if yuan is None:
            return None
        if self.viewer is None:
            return str(mask("budget", yuan))
        seen = self.viewer.show("budget", yuan, row)
        return None if seen is None else seen if isinstance(seen, str) else money(seen)

    def amount_text(self, yuan: int | None, figure: str, row: LeadFacts | None = None) -> str | None:
        """An amount already written as `figure` (180万): it when visible, a band when masked,
        None when hidden."""
        lvl = "masked" if self.viewer is None else self.viewer.level("budget", row)
        if lvl == "hidden":
            return None
        if lvl == "visible" or yuan is None:
            return figure
        return str(mask("budget", yuan))

    def note(self, text: str | None, row: LeadFacts | None = None) -> str | None:
        """A follow-up text: None when notes are hidden, `***` when masked, phones masked per row."""
        if self.viewer is None:
            return None
        return self.viewer.text(text, row)

    def owner(self, name: str, row: LeadFacts | None = None) -> str | None:
        """A row's owner, by name: None when owners are hidden from the reader, `***` when masked."""
        if self.viewer is None:
            return name
        return self.viewer.show("owner", name, row)
