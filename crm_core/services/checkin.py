"""The morning focus check-in (晨会打卡): each working morning every active rep with open leads
gets a card of those leads ranked — the nearest deadline first (stage timer, open to-do due,
expected close), then the healthier customer, then the bigger budget — and picks today's
主攻商机 (`checkin.picks`, default 3) by buttons or by typing 「1 3 5」 / 「主攻 #12 #15」.

One `FocusCheckin` row per rep and local day holds the card's numbering (`candidates`), the
picks so far and the submit. Picking is idempotent (选 adds, 取消 removes: a repeated tap changes
nothing); a day is submitted once: a second submit is refused with what was submitted, since the
supervisors' 《重点客户日志》 went out with those picks. The next card shows, per pick of the
previous check-in, whether it moved since it was picked (a stage change, a follow-up, a to-do
done), read from the activities. The supervisor digest reads who checked in (`checkin_roll`)."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core import audit
from crm_core.clock import local
from crm_core.config.schema import AppConfig
from crm_core.db.models import Activity, Customer, FocusCheckin, Lead, Task
from crm_core.notices import CheckinCard, FocusLog, Items, Notice
from crm_core.services.health_facts import SYSTEM_KINDS
from crm_core.services.reminders import claim_notices
from crm_core.worktime import WorkCalendar

BUTTONED = 5                   # a card holds six buttons: five leads and 提交
FAR = date.max
# not the rep moving the deal: bookkeeping, the lead's creation and edits, stage moves (counted
# apart, with the answers recorded on entering a stage), a supervisor's nudge or assist flag, a help request
NOT_FOLLOW_UPS = frozenset(SYSTEM_KINDS) | {"created", "edit", "stage", "stage_entry", "voice_note", "nudge",
                                            "assist", "help"}
TYPED = re.compile(r"[#＃]\s*(\d{1,12})|(\d{1,3})")
TYPED_ONLY = re.compile(r"^\s*(?:[#＃]?\s*\d{1,12}[\s,，、;；]*){1,15}$")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十]+")


def arabic_picks(text: str) -> str:
    """The card's numbers written in Chinese as digits: 「一，三，五」 → 「1，3，5」, 「一三五」 → 「1 3 5」,
    「十」 → 「10」 (other text unchanged)."""
    def one(m: re.Match[str]) -> str:
        t = m.group(0)
        if "十" not in t:
            return " ".join(str(_CN_DIGITS[c]) for c in t)
        head, _, tail = t.partition("十")
        if len(head) > 1 or len(tail) > 1 or tail == "十":
            return t
        return str(_CN_DIGITS.get(head, 1) * 10 + _CN_DIGITS.get(tail, 0))
    return _CN_NUMBER.sub(one, text or "")


class CheckinError(ValueError):
    """A pick or submit that cannot be done as asked; the message is for the rep."""


def today_of(cfg: AppConfig, now: datetime) -> date:
    return local(now, cfg.app.timezone).date()


def is_workday(cfg: AppConfig, now: datetime) -> bool:
    return WorkCalendar(cfg.calendar, cfg.app.timezone).is_workday(today_of(cfg, now))


# ---- ranking -------------------------------------------------------------------------------

def _timeline_day(timeline: str | None) -> date | None:
    try:
        parts = [int(p) for p in (timeline or "").split("-")]
        return date(parts[0], parts[1], parts[2] if len(parts) == 3 else 1) if len(parts) >= 2 else None
    except ValueError:
        return None


def _bucket(due: date | None, today: date) -> int:
    """0 overdue or today, 1 within 3 days, 2 within a week, 3 later, 4 no deadline."""
    if due is None:
        return 4
    days = (due - today).days
    return 0 if days <= 0 else 1 if days <= 3 else 2 if days <= 7 else 3


def _item(cfg: AppConfig, lead: Lead, customer: str | None, health: float | None, task_due: date | None,
          today: date) -> dict[str, Any]:
    dues = [(lead.fuse_deadline and local(lead.fuse_deadline, cfg.app.timezone).date(), "阶段时限"),
            (task_due, "待办"), (_timeline_day(lead.timeline), "预计成交")]
    due, kind = min(((d, k) for d, k in dues if d), default=(None, None), key=lambda p: p[0])
    stage = cfg.funnel.stage(lead.stage)
    return {"lead_id": lead.id, "title": lead.title, "customer": customer, "stage": stage.name if stage else lead.stage,
            "due": due.isoformat() if due else None, "due_kind": kind, "health": health,
            "budget_cny": lead.budget_cny, "status": lead.status, "owner": lead.owner_rep_id}


def _sort_key(item: dict[str, Any], today: date) -> tuple[Any, ...]:
    due = date.fromisoformat(item["due"]) if item["due"] else None
    health = item["health"] if item["health"] is not None else -1.0
    return (_bucket(due, today), -health, -(item["budget_cny"] or 0), due or FAR, item["lead_id"])


def lead_items(session: Session, cfg: AppConfig, lead_ids: list[int], now: datetime) -> dict[int, dict[str, Any]]:
    """The card line facts of these leads (any owner, any status), by id."""
    if not lead_ids:
        return {}
    today = today_of(cfg, now)
    due = dict(session.execute(select(Task.lead_id, func.min(Task.due_date))
                               .where(Task.lead_id.in_(lead_ids), Task.status == "open").group_by(Task.lead_id)).all())
    rows = session.execute(select(Lead, Customer.name, Customer.health_score)
                           .join(Customer, Customer.id == Lead.customer_id).where(Lead.id.in_(lead_ids))).all()
    return {lead.id: _item(cfg, lead, name, health, due.get(lead.id), today) for lead, name, health in rows}


def ranked_leads(session: Session, cfg: AppConfig, rep_id: str, now: datetime) -> Items:
    """The rep's open leads in the order the card offers them (`checkin.offered` at most)."""
    ids = list(session.scalars(select(Lead.id).where(Lead.owner_rep_id == rep_id, Lead.status == "open")))
    today = today_of(cfg, now)
    items = sorted(lead_items(session, cfg, ids, now).values(), key=lambda it: _sort_key(it, today))
    return items[:cfg.checkin.offered]


# ---- the day's row -------------------------------------------------------------------------

def checkin_of(session: Session, rep_id: str, day: date) -> FocusCheckin | None:
    return session.scalar(select(FocusCheckin).where(FocusCheckin.rep_id == rep_id, FocusCheckin.day == day))


def previous_checkin(session: Session, rep_id: str, day: date) -> FocusCheckin | None:
    """The last submitted check-in before `day` (Friday's on a Monday)."""
    return session.scalar(select(FocusCheckin).where(FocusCheckin.rep_id == rep_id, FocusCheckin.day < day,
                                                     FocusCheckin.status == "submitted")
                          .order_by(FocusCheckin.day.desc()).limit(1))


def ensure_checkin(session: Session, cfg: AppConfig, rep_id: str, now: datetime) -> FocusCheckin | None:
    """Today's row (made with today's ranking when missing); None when the rep has no open lead
    to offer and no row yet."""
    day = today_of(cfg, now)
    row = checkin_of(session, rep_id, day)
    if row is not None:
        return row
    items = ranked_leads(session, cfg, rep_id, now)
    if not items:
        return None
    try:
        with session.begin_nested():
            row = FocusCheckin(rep_id=rep_id, day=day, candidates=[it["lead_id"] for it in items], picks=[],
                               status="open", created_at=now)
            session.add(row)
    except IntegrityError:          # a concurrent run made it first
        return checkin_of(session, rep_id, day)
    return row


def moves_since(session: Session, cfg: AppConfig, row: FocusCheckin, now: datetime) -> Items:
    """Per pick of `row`: what happened to it since it was picked (stage moves, follow-ups,
    to-dos done, its status now)."""
    since = row.submitted_at or row.created_at
    picks = [int(p) for p in row.picks]
    items = lead_items(session, cfg, picks, now)
    acts = session.execute(select(Activity.lead_id, Activity.kind, Activity.data)
                           .where(Activity.lead_id.in_(picks), Activity.created_at >= since, Activity.created_at <= now)
                           .order_by(Activity.created_at, Activity.id)).all() if picks else []
    names = {s.key: s.name for s in cfg.funnel.stages}
    out = []
    for lead_id in picks:
        it = items.get(lead_id, {"lead_id": lead_id, "title": "", "customer": None, "status": "open"})
        mine = [a for a in acts if a.lead_id == lead_id]
        stages = [f"{names.get(str((a.data or {}).get('from')), '—')} → {names.get(str((a.data or {}).get('to')), '—')}"
                  for a in mine if a.kind == "stage"]
        out.append({"lead_id": lead_id, "title": it["title"], "customer": it["customer"], "status": it["status"],
                    "stages": stages, "follow_ups": sum(1 for a in mine if a.kind not in NOT_FOLLOW_UPS),
                    "todos_done": sum(1 for a in mine if a.kind == "todo_done")})
    return out


def moved(move: dict[str, Any]) -> bool:
    return bool(move["stages"] or move["follow_ups"] or move["todos_done"])


def card_notice(session: Session, cfg: AppConfig, row: FocusCheckin, now: datetime) -> CheckinCard:
    """The check-in card of `row`, numbered as its candidates, with the previous picks' moves."""
    items = lead_items(session, cfg, [int(c) for c in row.candidates], now)
    prev = previous_checkin(session, row.rep_id, row.day)
    return CheckinCard(to_rep=row.rep_id, date=row.day.isoformat(), picks=cfg.checkin.picks,
                       items=[items[int(c)] for c in row.candidates if int(c) in items],
                       moves=moves_since(session, cfg, prev, now) if prev else [],
                       moves_date=prev.day.isoformat() if prev else None,
                       dedupe_key=f"checkin.card:{row.rep_id}:{row.day.isoformat()}")


def morning_checkins(session: Session, cfg: AppConfig, now: datetime) -> list[Notice]:
    """The scheduled run: on a working day, today's card for every active rep with open leads
    (claimed once per rep and day: a second run the same day sends nothing)."""
    if not is_workday(cfg, now):
        return []
    notices: list[Notice] = []
    for rep in cfg.org.reps:
        if "rep" not in rep.roles or rep.availability != "active":
            continue
        row = ensure_checkin(session, cfg, rep.id, now)
        if row is not None and row.status == "open":
            notices.append(card_notice(session, cfg, row, now))
    return claim_notices(session, notices, now)


# ---- picking and submitting ----------------------------------------------------------------

def _open_row(session: Session, cfg: AppConfig, rep_id: str, now: datetime, day: date | None = None) -> FocusCheckin:
    row = checkin_of(session, rep_id, day or today_of(cfg, now))
    if row is None:
        raise CheckinError("这张打卡卡片已经过期了。发送「主攻」可以打开今天的晨会打卡。")
    if row.status == "submitted":
        raise CheckinError(already_submitted(row))
    return row


def already_submitted(row: FocusCheckin) -> str:
    picked = "、".join(f"#{p}" for p in row.picks)
    return (f"今天的主攻商机已经提交过了:{picked}。每天提交一次,主管已收到《重点客户日志》;"
            "如需调整请直接和主管沟通。")


def _check_lead(session: Session, rep_id: str, lead_id: int) -> None:
    lead = session.get(Lead, lead_id)
    if lead is None or lead.owner_rep_id != rep_id or lead.status != "open":
        raise CheckinError(f"线索 #{lead_id} 不是你跟进中的线索,不能选为主攻商机。")


def pick(session: Session, cfg: AppConfig, rep_id: str, day: date, lead_id: int, now: datetime) -> FocusCheckin:
    """Add a pick (already picked: nothing changes)."""
    row = _open_row(session, cfg, rep_id, now, day)
    picks = [int(p) for p in row.picks]
    if lead_id in picks:
        return row
    if len(picks) >= cfg.checkin.picks:
        raise CheckinError(f"最多选 {cfg.checkin.picks} 个主攻商机,已选 {'、'.join(f'#{p}' for p in picks)}。"
                           "先点「取消」换掉一个,或者直接点「提交」。")
    _check_lead(session, rep_id, lead_id)
    row.picks = picks + [lead_id]          # a new list: JSON columns only notice reassignment
    return row


def unpick(session: Session, cfg: AppConfig, rep_id: str, day: date, lead_id: int, now: datetime) -> FocusCheckin:
    """Remove a pick (not picked: nothing changes)."""
    row = _open_row(session, cfg, rep_id, now, day)
    row.picks = [int(p) for p in row.picks if int(p) != lead_id]
    return row


def typed_picks(row: FocusCheckin, text: str) -> list[int]:
    """「1 3 5」 (the card's numbers) or 「#12 #15」 (lead numbers) → lead ids, in order, once each."""
    out: list[int] = []
    for m in TYPED.finditer(arabic_picks(text)):
        if m.group(1):
            lead_id = int(m.group(1))
        else:
            n = int(m.group(2))
            digits = [int(d) for d in m.group(2)]
            if not 1 <= n <= len(row.candidates) and len(set(digits)) == len(digits) > 1 and all(
                    1 <= d <= len(row.candidates) for d in digits):      # 「135」 typed for 「1 3 5」
                out.extend(int(row.candidates[d - 1]) for d in digits if int(row.candidates[d - 1]) not in out)
                continue
            if not 1 <= n <= len(row.candidates):
                raise CheckinError(f"卡片上没有第 {n} 条(共 {len(row.candidates)} 条)。"
                                   "可以回复卡片上的序号,例如「1 3 5」,或线索编号,例如「主攻 #12 #15」。")
            lead_id = int(row.candidates[n - 1])
        if lead_id not in out:
            out.append(lead_id)
    return out


def submit(session: Session, cfg: AppConfig, rep_id: str, day: date, now: datetime, platform: str | None,
           picks: list[int] | None = None) -> tuple[FocusCheckin, list[Notice]]:
    """Submit the day's picks (`picks` given: they replace the ones tapped so far) and return the
    《重点客户日志》 notices for the rep's supervisors and the configured copy."""
    row = _open_row(session, cfg, rep_id, now, day)
    chosen = [int(p) for p in (row.picks if picks is None else picks)]
    if not chosen:
        raise CheckinError("还没有选主攻商机。点卡片上的「选」按钮,或回复序号,例如「1 3 5」。")
    if len(chosen) > cfg.checkin.picks:
        raise CheckinError(f"每天最多 {cfg.checkin.picks} 个主攻商机,这次写了 {len(chosen)} 个。")
    for lead_id in chosen:
        _check_lead(session, rep_id, lead_id)
    # an UPDATE runs to a CursorResult; Session.execute is typed as returning a plain Result
    done = cast("CursorResult[Any]", session.execute(
        update(FocusCheckin).where(FocusCheckin.id == row.id, FocusCheckin.status == "open")
        .values(status="submitted", picks=chosen, submitted_at=now, platform=platform)
        .execution_options(synchronize_session=False))).rowcount
    if done != 1:                           # a concurrent submit won
        session.refresh(row)
        raise CheckinError(already_submitted(row))
    session.refresh(row)
    audit.record(session, rep_id, "checkin.submit", platform=platform, target_type="rep", target_id=rep_id,
                 detail={"day": day.isoformat(), "picks": chosen}, now=now)
    return row, claim_notices(session, focus_logs(session, cfg, row, now), now)


def log_recipients(cfg: AppConfig, rep_id: str) -> list[tuple[str, bool]]:
    """(rep id, as supervisor): the supervisors of the rep's teams, then `checkin.copy_to`."""
    out: list[tuple[str, bool]] = []
    for team in cfg.org.teams_of(rep_id):
        if team.supervisor != rep_id and cfg.org.rep(team.supervisor) and all(r != team.supervisor for r, _ in out):
            out.append((team.supervisor, True))
    copy = cfg.checkin.copy_to
    if copy and copy != rep_id and all(r != copy for r, _ in out):
        out.append((copy, False))
    return out


def focus_logs(session: Session, cfg: AppConfig, row: FocusCheckin, now: datetime) -> list[Notice]:
    items = lead_items(session, cfg, [int(p) for p in row.picks], now)
    picks = [items[int(p)] for p in row.picks if int(p) in items]
    prev = previous_checkin(session, row.rep_id, row.day)
    moves = moves_since(session, cfg, prev, now) if prev else []
    rep = cfg.org.rep(row.rep_id)
    return [FocusLog(to_rep=to, as_supervisor=sup, rep=row.rep_id, rep_name=rep.name if rep else row.rep_id,
                     date=row.day.isoformat(), picks=picks, moves=moves,
                     moves_date=prev.day.isoformat() if prev else None,
                     dedupe_key=f"checkin.log:{row.rep_id}:{row.day.isoformat()}:{to}")
            for to, sup in log_recipients(cfg, row.rep_id)]


# ---- the supervisor digest -------------------------------------------------------------------

def checkin_roll(session: Session, members: list[str], day: date) -> Items:
    """Who of `members` checked in on `day` and who did not: only reps whose card went out
    that day (a rep with no open lead got none and is not listed)."""
    rows = session.scalars(select(FocusCheckin).where(FocusCheckin.rep_id.in_(members), FocusCheckin.day == day)
                           .order_by(FocusCheckin.rep_id)).all()
    return [{"rep": r.rep_id, "checked_in": r.status == "submitted", "picks": len(r.picks)} for r in rows]

