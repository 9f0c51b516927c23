"""Live configuration for a running deployment: `crm-bot config reload`, SIGHUP and the
availability set in chat reach every instance without a restart.

The shared store carries it: a reload validates the file, writes its text under
`config:published` (a new revision) and bumps `config:gen`; a chat availability change writes
its row to the database and bumps `config:gen`. Every instance compares `config:gen` with the
last one it applied before each message, each API request and every two seconds (one GET),
then rebuilds its config — the published file's live sections (crm_core/config/live.py;
restart-only sections stay as started), plus the database's availability overrides in force
today — and swaps it in as one object (`Runtime.apply_config`). With Redis that is every
instance; with the embedded store the one process (the CLI reaches it by SIGHUP).

A file that fails validation changes nothing, anywhere: it is never published."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm_core.clock import local
from crm_core.config.live import SECTION_LABELS, AvailabilityOverride, apply_overrides, plan_reload
from crm_core.config.loader import ConfigError, parse_config_text, read_config_text
from crm_core.config.schema import AppConfig
from crm_core.kv.base import KV
from crm_core.kv.keys import CONFIG_GEN_KEY, CONFIG_PUBLISHED_KEY, CONFIG_RUNNING_KEY
from crm_core.services.availability import load_overrides

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("crm_bot.config")
POLL_SECONDS = 2.0
RESULT_FILE = "config-reload.json"      # the embedded store's answer to a SIGHUP, in the data dir
PID_FILE = "crm-bot.pid"                # `serve` writes it, `config reload` signals it


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class ReloadResult:
    """What a reload did: refused (problems) or applied (live sections changed, keys that wait
    for a restart)."""
    ok: bool
    source: str
    sha: str = ""
    rev: str = ""
    problems: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.ok:
            return [f"配置未生效,原配置继续运行 / rejected, nothing changed: {self.source}",
                    *[f"  {p}" for p in self.problems]]
        out = [f"配置已生效 / applied: {self.source} (sha {self.sha})"]
        if self.applied:
            names = "、".join(SECTION_LABELS.get(s, s) for s in self.applied)
            out.append(f"  applied now / 立即生效: {', '.join(self.applied)}({names})")
        else:
            out.append("  no live setting changed / 没有需要立即生效的改动")
        if self.needs_restart:
            out.append("  changed, takes effect after a restart / 以下改动需重启后生效:")
            out += [f"    {k}" for k in self.needs_restart]
        return out

    def as_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def result_key(rev: str) -> str:
    return f"config:result:{rev}"


def publish_text(kv: KV, text: str, source: str, actor: str, at: str) -> str:
    """Make a validated config text the deployment's next revision; returns its id. The text
    goes in before the generation moves, so whoever sees the new generation finds it."""
    rev = uuid.uuid4().hex[:12]
    kv.set(CONFIG_PUBLISHED_KEY, json.dumps({"rev": rev, "sha": text_sha(text), "yaml": text, "source": source,
                                             "by": actor, "at": at}))
    kv.incr(CONFIG_GEN_KEY)
    return rev


def applied_result(kv: KV, rev: str) -> ReloadResult | None:
    """What the first instance to apply revision `rev` reported, if one has."""
    raw = kv.get(result_key(rev))
    return ReloadResult(**json.loads(raw)) if raw else None


class LiveConfig:
    """One instance's side: what it runs (the validated file, the overrides) and when it last
    looked. Thread-safe: workers, web threads and the poller call `sync` concurrently."""

    def __init__(self, rt: "Runtime", base: AppConfig) -> None:
        self.rt = rt
        self.base = base                                   # the file's config as this instance runs it
        self.overrides: list[AvailabilityOverride] = []
        # an instance adopts only revisions published after its first look (it started from its own file);
        # that look is the first sync, not here: the store may be down while the process starts
        self.published_rev: str | None = None
        self._baseline = False
        self.seen_gen: str | None = "unsynced"
        self.day: date | None = None
        self._lock = threading.Lock()

    def _published(self) -> dict[str, Any]:
        raw = self.rt.kv.get(CONFIG_PUBLISHED_KEY)
        return json.loads(raw) if raw else {}

    def _today(self) -> date:
        return local(self.rt.clock(), self.base.app.timezone).date()

    def sync(self) -> bool:
        """Apply what changed since the last look (a reload, an availability change, a leave that
        ended today); True when the running config was rebuilt. One GET when nothing changed."""
        gen, today = self.rt.kv.get(CONFIG_GEN_KEY), self._today()
        if gen == self.seen_gen and today == self.day:
            return False
        with self._lock:
            if gen == self.seen_gen and today == self.day:
                return False
            if gen != self.seen_gen:
                self._adopt_published()
                with self.rt.db.uow() as s:
                    self.overrides = load_overrides(s)
            self.rt.apply_config(apply_overrides(self.base, self.overrides, today))
            self.seen_gen, self.day = gen, today
            return True

    def _adopt_published(self) -> None:
        state = self._published()
        rev = state.get("rev")
        if not self._baseline:
            self.published_rev, self._baseline = rev, True
            return
        if not rev or rev == self.published_rev:
            return
        self.published_rev = rev
        try:
            new = parse_config_text(state["yaml"], path=state.get("source"))
        except ConfigError as err:        # valid where it was published, not with this instance's environment
            log.error("config revision %s not applied here (%d problem(s)): %s", rev, len(err.problems),
                      "; ".join(err.problems))
            return
        plan = plan_reload(self.base, new)
        self.base = plan.config
        self.rt.kv.set(CONFIG_RUNNING_KEY, json.dumps({"rev": rev, "sha": state.get("sha"),
                                                       "at": self.rt.clock().isoformat()}))
        result = ReloadResult(True, str(state.get("source")), str(state.get("sha")), rev, applied=plan.applied,
                              needs_restart=plan.needs_restart)
        self.rt.kv.set(result_key(rev), result.as_json(), ttl=86400)    # `config reload` prints it
        log.info("config revision %s applied (sha %s): %s%s", rev, state.get("sha"),
                 ", ".join(plan.applied) or "no live change",
                 f"; after a restart: {', '.join(plan.needs_restart)}" if plan.needs_restart else "")

    def publish(self, text: str, source: str, actor: str = "cli") -> ReloadResult:
        """Validate `text`; if valid, publish it to every instance (and apply it here)."""
        sha = text_sha(text)
        try:
            new = parse_config_text(text, path=source)
        except ConfigError as err:
            log.warning("config reload refused (%s): %s", source, "; ".join(err.problems))
            return ReloadResult(False, source, sha, problems=err.problems)
        self.sync()                        # this instance's baseline first: it must adopt what it publishes
        plan = plan_reload(self.base, new)
        rev = publish_text(self.rt.kv, text, source, actor, self.rt.clock().isoformat())
        self.sync()
        return ReloadResult(True, source, sha, rev, applied=plan.applied, needs_restart=plan.needs_restart)

    def reload_file(self, path: str | Path | None = None, actor: str = "sighup") -> ReloadResult:
        where = path or self.rt.config_path
        try:
            p, text = read_config_text(where)
        except ConfigError as err:
            return ReloadResult(False, str(where), problems=err.problems)
        return self.publish(text, str(p), actor)

    def changed(self) -> None:
        """Something the config is built from changed in the database (availability): every
        instance rebuilds before its next message; this one now."""
        self.rt.kv.incr(CONFIG_GEN_KEY)
        self.sync()


def poll(live: LiveConfig, stop: threading.Event) -> None:
    """Background look every POLL_SECONDS, so scheduler jobs see a change within seconds."""
    failing = False
    while not stop.wait(POLL_SECONDS):
        try:
            live.sync()
            failing = False
        except Exception:  # noqa: BLE001 - the store or database is down: the worker reports that
            if not failing:
                log.warning("config sync failed; retrying every %g s", POLL_SECONDS, exc_info=True)
            failing = True


def start_poller(live: LiveConfig, stop: threading.Event) -> threading.Thread:
    t = threading.Thread(target=poll, args=(live, stop), name="config-sync", daemon=True)
    t.start()
    return t


def write_result(data_dir: Path, result: ReloadResult) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / (RESULT_FILE + ".tmp")
    tmp.write_text(result.as_json(), encoding="utf-8")
    tmp.replace(data_dir / RESULT_FILE)


def read_result(data_dir: Path) -> ReloadResult | None:
    try:
        data = json.loads((data_dir / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ReloadResult(**data)

