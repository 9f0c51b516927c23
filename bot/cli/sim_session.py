"""One simulated conversation over a `LocalStack` (the sandbox platforms and the real server),
kept across turns: `crm-bot simulate --interactive` reads its lines from the keyboard, and
scripted `crm-bot simulate` steps go through the same `SimSession.do`.

A line is a message from the current user, or a command:
  /user 王芳            switch user (rep id or name; a raw platform id for a stranger)
  /platform dingtalk    switch platform (wecom | dingtalk | feishu)
  /tap 仍然新建          tap that button on the newest card that has it live
  /tap #3 转派           tap a button on card #3 (cards are numbered as they arrive)
  /cards                the cards so far, with their live buttons
  /voice FILE           send an audio file as a voice note
  /asr 文本              DingTalk: a voice note with DingTalk's own recognition text
  /clock +3d | +72h | +30m | 2026-12-05T09:00   move the bot's clock (and the platforms' timestamps)
  /run JOB              run a scheduler job now, at the bot's clock (/run fuse_scan)
  /audit #12            the lead's audit trail (/audit: the lead a reply named last)
  /help, /quit
Errors are one line (SimError); nothing here prints a traceback."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.job_runs import UnknownJob, run_job_now
from bot.cli.sim_text import clock_line, job_failed, job_line
from bot.platforms.registry import default_registry
from crm_core.config import AppConfig
from crm_core.services.audit_trail import AuditQuery, audit_entries, entry_line, parse_time
from sandbox import SentCall
from sandbox.cardjson import call_text, card_buttons, card_of_call
from sandbox.client import CardNotTappable
from sandbox.stack import LocalStack

HELP = """直接输入文字:以当前用户的身份发消息。命令:
  /user 王芳            换成另一位同事(编号或姓名;也可以是平台上的原始用户 ID)
  /platform dingtalk    换平台(wecom、dingtalk、feishu)
  /tap 仍然新建          点最新一张还能点这个按钮的卡片;写出按钮名的一部分也行(/tap 转派)
  /tap #3 转派           点第 3 张卡片上的按钮(卡片按收到的顺序编号)
  /cards                列出收到的卡片和按钮
  /voice 文件           把音频文件作为语音消息发出
  /asr 文字              钉钉:发一条带钉钉识别文字的语音消息
  /clock +3d            把机器人的时钟往后拨(+72h、+30m,或 2026-12-05T09:00)
  /run fuse_scan        按机器人的时钟立即运行一个定时任务
  /audit #12            查看线索的操作记录(不写编号:最近提到的线索)
  /help                 显示本说明;/quit 退出"""
STEP = re.compile(r"^\+?(\d+(?:\.\d+)?)\s*([dhm])$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}
LEAD_NO = re.compile(r"线索 ?#(\d+)")


class SimError(Exception):
    """A line the session could not carry out; its text is the whole message for the user."""


class Quit(Exception):
    pass


@dataclass
class SimClock:
    """The bot's clock and the simulated platforms' timestamps: real time plus an offset."""
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def epoch(self) -> float:
        return time.time() + self.offset.total_seconds()


def user_id_for(cfg: AppConfig, platform: str, user: str) -> str:
    """A configured rep's id on `platform` (by rep id or name), or `user` as a raw platform id."""
    rep = cfg.org.rep(user) or next((r for r in cfg.org.reps if r.name == user), None)
    if rep is None:
        return user                      # a raw platform id (e.g. a stranger)
    if platform not in rep.platform_ids:
        raise SimError(f"{rep.name} 没有{platform}账号(org.reps 的 platform_ids 里没有 {platform})")
    return rep.platform_ids[platform]


def title(call: SentCall) -> str:
    """A card's first line under the "── platform card → who ──" header."""
    lines = [x for x in call_text(call).splitlines() if x.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else "")


@dataclass
class SimSession:
    stack: LocalStack
    platform: str
    user: str
    clock: SimClock
    cards: list[SentCall] = field(default_factory=list)
    settle_seconds: float = 60.0
    last_lead: int | None = None          # the newest lead a reply named: /audit without a number
    last_status: int | None = None        # the platform callback's HTTP status of the last line that sent one

    @property
    def cfg(self) -> AppConfig:
        return self.stack.cfg

    @property
    def uid(self) -> str:
        return user_id_for(self.cfg, self.platform, self.user)

    def prompt(self) -> str:
        rep = self.cfg.org.rep(self.user)
        return f"{rep.name if rep else self.user}@{self.platform}> "

    def do(self, line: str) -> list[str]:
        """Carry out one line; what to print. Raises SimError (one line) or Quit."""
        line = line.strip()
        self.last_status = None
        if not line:
            return []
        if not line.startswith("/"):
            return self._exchange(lambda: self.stack.sim.send_text(self.platform, self.uid, line))
        word, _, rest = line[1:].partition(" ")
        handler = getattr(self, f"_cmd_{word.lower()}", None)
        if handler is None:
            raise SimError(f"没有这个命令:/{word}(/help 列出全部命令)")
        out: list[str] = handler(rest.strip())
        return out

    # ---- talking ------------------------------------------------------------------------------
    def _exchange(self, send: object) -> list[str]:
        mark = self.stack.sandbox.last_seq()
        res = send() if callable(send) else None
        status = self.last_status = int(getattr(res, "status_code", 200))
        if status >= 400:
            raise SimError(f"平台回调被拒绝(HTTP {status})")
        self.stack.settle(timeout=self.settle_seconds)
        calls = self.stack.sandbox.sent(after=mark)
        return [self._show(c) for c in calls] or ["(没有回复)"]

    def _show(self, call: SentCall) -> str:
        text = call_text(call)
        for found in LEAD_NO.findall(text):
            self.last_lead = int(found)
        if card_of_call(call) is not None:
            self.cards.append(call)
            return f"[卡片 #{len(self.cards)} → {call.platform} {call.recipient}]\n{text}"
        return text

    def _cmd_voice(self, arg: str) -> list[str]:
        path = Path(arg)
        if not arg or not path.is_file():
            raise SimError(f"找不到音频文件:{arg or '(未给出)'}")
        fmt = default_registry().get(self.platform).voice_format
        return self._exchange(lambda: self.stack.sim.send_voice(self.platform, self.uid, path.read_bytes(),
                                                                fmt=fmt, duration_ms=5000))

    def _cmd_asr(self, arg: str) -> list[str]:
        if self.platform != "dingtalk":
            raise SimError("只有钉钉的语音消息自带识别文字;先 /platform dingtalk")
        if not arg:
            raise SimError("请写出识别文字,例如:/asr 杭州优品李经理要采购CRM")
        fmt = default_registry().get("dingtalk").voice_format
        return self._exchange(lambda: self.stack.sim.send_voice("dingtalk", self.uid, b"\x00" * 64, fmt=fmt,
                                                                duration_ms=5000, recognition=arg))

    # ---- cards --------------------------------------------------------------------------------
    def _cmd_cards(self, _arg: str) -> list[str]:
        if not self.cards:
            return ["还没有收到卡片。"]
        return [f"#{i} → {c.platform} {c.recipient}:{title(c)}  按钮:{self._live(c) or '无'}"
                for i, c in enumerate(self.cards, 1)]

    def _live(self, call: SentCall) -> str:
        """The card's buttons as sent (a tap reads the card's latest state and refuses spent ones)."""
        card = card_of_call(call) or {}
        return "、".join(b.text for b in card_buttons(call.platform, card) if not b.disabled)

    def _cmd_tap(self, arg: str) -> list[str]:
        m = re.match(r"^#(\d+)\s+(.+)$", arg)
        if m:
            n = int(m.group(1))
            if not 1 <= n <= len(self.cards):
                raise SimError(f"没有卡片 #{n}(现有 {len(self.cards)} 张,/cards 查看)")
            targets, label = [self.cards[n - 1]], m.group(2).strip()
        else:
            targets, label = list(reversed(self.cards)), arg
        if not label:
            raise SimError("请写出按钮名称,例如:/tap 确认 或 /tap #3 转派")
        last: Exception | None = None
        for call in targets:
            try:
                word = self._button(call, label)
                return self._exchange(lambda c=call, w=word: self.stack.sim.tap(c.platform, self._tapper(c), c, w))
            except CardNotTappable as err:
                last = err
        raise SimError(str(last) if len(targets) == 1 and last else f"没有哪张卡片上有可点的「{label}」按钮(/cards 查看)")

    def _button(self, call: SentCall, label: str) -> str:
        """The button text `label` names: itself (or an action key), else the one button whose
        text has it where a word starts (「转派」 → 「转派给李娜」)."""
        buttons = card_buttons(call.platform, card_of_call(call) or {})
        if any(label in (b.text, b.action) for b in buttons):
            return label
        # where a word starts (「驳回」 → 「驳回-价格过低」), never inside one: 「选 1」 is not 「提交(已选 1/3)」
        starts = re.compile(r"(?:^|[\s(（【\[·、,，\-])" + re.escape(label))
        near = {b.text for b in buttons if starts.search(b.text)}
        if len(near) == 1:
            return near.pop()
        if near:
            raise CardNotTappable(f"「{label}」可以是:{'、'.join(sorted(near))},请写全")
        raise CardNotTappable(f"卡片上没有「{label}」按钮")

    def _tapper(self, call: SentCall) -> str:
        """The current user taps, on the card's platform (their id there)."""
        return user_id_for(self.cfg, call.platform, self.user)

    # ---- who and where ------------------------------------------------------------------------
    def _cmd_user(self, arg: str) -> list[str]:
        if not arg:
            raise SimError("请写出用户,例如:/user 王芳 或 /user wang.fang")
        rep = self.cfg.org.rep(arg) or next((r for r in self.cfg.org.reps if r.name == arg), None)
        self.user = rep.id if rep else arg
        user_id_for(self.cfg, self.platform, self.user)          # fails now if they are not on this platform
        return [f"现在是 {rep.name if rep else arg}({self.platform})"]

    def _cmd_platform(self, arg: str) -> list[str]:
        names = default_registry().names()
        if arg not in names:
            raise SimError(f"没有这个平台:{arg or '(未给出)'}(可选:{'、'.join(names)})")
        if arg not in self.cfg.platforms.enabled():
            raise SimError(f"配置里没有启用 {arg}")
        user_id_for(self.cfg, arg, self.user)
        self.platform = arg
        return [f"现在在 {arg}"]

    # ---- time and jobs ------------------------------------------------------------------------
    def _cmd_clock(self, arg: str) -> list[str]:
        tz = self.cfg.app.timezone
        if arg:
            m = STEP.match(arg.replace(" ", ""))
            if m:
                self.clock.offset += timedelta(**{UNITS[m.group(2)]: float(m.group(1))})
            else:
                try:
                    target = parse_time(arg, tz)
                except ValueError:
                    raise SimError(f"看不懂的时间:{arg}(例如 +3d、+72h、+30m 或 2026-12-05T09:00)") from None
                if target < self.clock.now() - timedelta(seconds=1):
                    raise SimError("时钟只能往后拨")
                self.clock.offset += target - self.clock.now()
        return [clock_line(self.clock.now(), tz)]

    def _cmd_run(self, arg: str) -> list[str]:
        if not arg:
            raise SimError("请写出任务名,例如:/run fuse_scan")
        mark = self.stack.sandbox.last_seq()
        try:
            run = run_job_now(self.stack.rt, arg, self.clock.now())
        except UnknownJob as err:
            raise SimError(str(err)) from None
        if not run.ok:
            raise SimError(job_failed(arg, run.error))
        self.stack.settle(timeout=self.settle_seconds)
        calls = self.stack.sandbox.sent(after=mark)
        return [job_line(arg, run.result)] + [self._show(c) for c in calls]

    def _cmd_audit(self, arg: str) -> list[str]:
        m = re.match(r"^#?(\d+)$", arg)
        if arg and not m:
            raise SimError("请这样写:/audit #12(不写编号:最近提到的线索)")
        lead_id = int(m.group(1)) if m else self.last_lead
        if lead_id is None:
            raise SimError("还没有线索;请写编号,例如 /audit #12")
        with self.stack.rt.db.uow() as s:
            entries = audit_entries(s, AuditQuery(lead_id=lead_id, limit=200))
        if not entries:
            return [f"线索 #{lead_id} 没有操作记录。"]
        return [f"线索 #{lead_id} 的操作记录:"] + [entry_line(self.cfg, e, self.cfg.app.timezone) for e in entries]

    def _cmd_help(self, _arg: str) -> list[str]:
        return HELP.splitlines()

    def _cmd_quit(self, _arg: str) -> list[str]:
        raise Quit()

    _cmd_exit = _cmd_quit
