"""What a card's or reply's reader may see of the rows it carries (issue 18, crm_core/visibility.py),
for the builders that render a notice's plain data: the 晨会打卡 card and 《重点客户日志》, the 日报
(the rep's own and the one forwarded to a supervisor), 我的审批 and the approvals API list, the
approval card's follow-ups, the supervisor digest's owners, the monthly CLV dashboard's figures.
One `SeenBy` per reader; money through `workflow_cards.amount_for` (the figure, a size band, or
nothing), notes through `Viewer.text` (hidden, `***`, or with phones masked where the policy says).

An unknown reader (a rep no longer in the config) sees no notes and amounts as size bands."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from cards.model import Card

from crm_core.authz import LeadFacts, Principal
from crm_core.config.schema import AppConfig
from crm_core.notices import Notice
from crm_core.visibility import Viewer, mask
from handlers.lead_card import money

N = TypeVar("N", bound=Notice)
# 12,345 元 / 12.3 万元 / 1.2 亿元 (handlers/clv_cards.py `yuan`)
YUAN = re.compile(r"(-?\d[\d,]*(?:\.\d+)?) ?(亿元|万元|元)")
UNITS = {"元": 1, "万元": 10_000, "亿元": 100_000_000}


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


def money_as_seen(render: Callable[[AppConfig, N], Card | str | None]) -> Callable[[AppConfig, N], Card | str | None]:
    """A renderer of a card of money figures (written as `12.3 万元`), for its recipient: every
    figure a size band when their money level is masked, 「—」 when hidden, and no chart (its bars
    are the figures). Recipients who see money get the card as it is."""
    def rendered(cfg: AppConfig, notice: N) -> Card | str | None:
        card = render(cfg, notice)
        seen = SeenBy.of(cfg, notice.to_rep)
        level = seen.viewer.level("budget") if seen.viewer is not None else "masked"
        if level == "visible" or not isinstance(card, Card):
            return card

        def figure(m: re.Match[str]) -> str:
            return "—" if level == "hidden" else str(mask("budget", int(float(m[1].replace(",", "")) * UNITS[m[2]])))
        return replace(card, text=YUAN.sub(figure, card.text) if card.text else card.text, chart=None,
                       fields=tuple(replace(f, value=YUAN.sub(figure, f.value)) for f in card.fields))
    return rendered

