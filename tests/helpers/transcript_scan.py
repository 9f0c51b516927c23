"""Reads what crm-bot sent through the sandbox the way a rep would and lists what a rep must
never see: English (unless they wrote English themselves), raw config keys, half-width
punctuation inside Chinese sentences, and masked phones that Feishu or DingTalk markdown would
eat (138****5678 shows as 1385678). tests/e2e/conftest.py runs it over every e2e conversation."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cards.zh import halfwidth_marks
from crm_core.config import vocabulary
from crm_core.config.schema import AppConfig
from sandbox.cardjson import call_text
from sandbox.state import SentCall

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "crm-bot.example.yaml"

# Product and brand tokens a Chinese sentence may carry as they are.
BRANDS = {"crm-bot", "excel", "wps", "iphone", "ipad", "saas", "app"}
_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+")
_FILE = re.compile(r"[^\s「」:：]+\.(?:docx?|xlsx?|pptx?|pdf|csv|txt|png|jpe?g|zip|amr|mp3|wav|silk|opus)\b", re.I)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_'\-]*")
_QUOTED = re.compile(r"「[^「」]*」|“[^“”]*”")
_MASKED_PHONE_MD = re.compile(r"\d\*{2,}\d")
_ENGLISH_SENTENCE = re.compile(r"[A-Za-z]+(?:[\s,.'!?-]+[A-Za-z]+){2,}")
_ZH = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Finding:
    kind: str            # english | raw_key | halfwidth | phone_markdown
    platform: str
    recipient: str
    token: str
    excerpt: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.platform}→{self.recipient}: {self.token!r} in «{self.excerpt}»"


def config_vocabulary(cfg: AppConfig | None = None) -> set[str]:
    """Identifiers of the config: the product vocabulary's keys, every key of the example
    config, and the deployment's own stage, team, rep, industry and channel keys."""
    words = set(vocabulary.GATE_ITEMS) | set(vocabulary.CAPTURE_FIELDS) | set(vocabulary.CHANNELS)
    words |= _keys_of(yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8")))
    if cfg is not None:
        words |= {s.key for s in cfg.funnel.stages} | {t.id for t in cfg.org.teams} | {r.id for r in cfg.org.reps}
        words |= _keys_of(cfg.model_dump(mode="json"))
    return {w for w in words if isinstance(w, str) and re.fullmatch(r"[a-z][a-z0-9_]*", w) and len(w) > 2}


def _keys_of(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {str(k) for k in node}
        for k, v in node.items():
            out |= _keys_of(v)
            if k in ("key", "id") and isinstance(v, str):
                out.add(v)
        return out
    if isinstance(node, list):
        return set().union(*(_keys_of(v) for v in node)) if node else set()
    return set()


def user_words(texts: Iterable[str]) -> set[str]:
    """The English-looking words people wrote (the bot may show them back)."""
    return {w.lower() for text in texts for w in _TOKEN.findall(text)}


def wrote_english(text: str) -> bool:
    """A whole English sentence (three words or more, no Chinese): the rep may get English back."""
    return not _ZH.search(text) and bool(_ENGLISH_SENTENCE.search(text))


def _text_of(call: SentCall) -> str:
    return call_text(call).split("\n", 1)[1] if "\n" in call_text(call) else ""


def scan_call(call: SentCall, words: set[str], vocab: set[str], english_ok: bool) -> list[Finding]:
    found = scan_text(_text_of(call), call.platform, call.recipient, words, vocab, english_ok,
                      raw=strings_of(call.body))      # as the platform gets them, not the transcript's "label: value"
    if call.platform in ("feishu", "dingtalk"):
        for md in (markdown_of if call.platform == "feishu" else dingtalk_markdown_of)(call.body):
            for m in _MASKED_PHONE_MD.finditer(md):
                found.append(Finding("phone_markdown", call.platform, call.recipient, m.group(0),
                                     md[max(0, m.start() - 20): m.end() + 20]))
    return found


def scan_text(text: str, platform: str, recipient: str, words: set[str], vocab: set[str],
              english_ok: bool = False, raw: list[str] | None = None) -> list[Finding]:
    """What a rep must not read in `text`; half-width marks are looked for in `raw` (the strings
    as sent) when given, else in `text`."""
    found: list[Finding] = []

    def add(kind: str, token: str, where: int) -> None:
        found.append(Finding(kind, platform, recipient, token, text[max(0, where - 20): where + 20].replace("\n", " ")))

    plain = _FILE.sub(" ", _URL.sub(" ", text))
    unquoted = _QUOTED.sub(lambda m: " " * len(m.group(0)), plain)
    for m in _TOKEN.finditer(plain):
        tok = m.group(0)
        if tok in vocab and "_" in tok:
            add("raw_key", tok, m.start())
    if not english_ok:
        for m in _TOKEN.finditer(unquoted):
            tok = m.group(0).strip("'-")
            if _allowed(tok, words, vocab):
                continue
            add("raw_key" if tok in vocab else "english", tok, m.start())
    for value in (raw if raw is not None else [text]):
        for snippet in halfwidth_marks(value):
            found.append(Finding("halfwidth", platform, recipient, snippet, snippet))
    return found


def _collect(node: Any, own: Callable[[dict[str, Any]], list[str]], skip: str = "") -> list[str]:
    """`own(d)` of every dict in a request body, JSON inside strings opened (but not under `skip`)."""
    if isinstance(node, str) and node[:1] in "{[":
        try:
            return _collect(json.loads(node), own, skip)
        except ValueError:
            return []
    if isinstance(node, list):
        return [t for v in node for t in _collect(v, own, skip)]
    if not isinstance(node, dict):
        return []
    return own(node) + [t for k, v in node.items() if k != skip for t in _collect(v, own, skip)]


def markdown_of(node: Any) -> list[str]:
    """The markdown a Feishu body carries (card markdown / lark_md elements, post md)."""
    return _collect(node, lambda d: [str(d.get("content") or d.get("text") or "")]
                    if d.get("tag") in ("markdown", "lark_md", "md") else [])


def dingtalk_markdown_of(node: Any) -> list[str]:
    """The markdown a DingTalk body carries: sampleMarkdown's msgParam text, a webhook's
    markdown.text, a card's `markdown` parameter."""
    def own(d: dict[str, Any]) -> list[str]:
        md = d.get("markdown")
        found = [md] if isinstance(md, str) else [str(md.get("text") or "")] if isinstance(md, dict) else []
        if d.get("msgKey") == "sampleMarkdown":
            found.append(str(_json_obj(d.get("msgParam")).get("text") or ""))
        return found
    return _collect(node, own, skip="msgParam")


def _json_obj(raw: Any) -> dict[str, Any]:
    try:
        got = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


def strings_of(node: Any) -> list[str]:
    """Every string in a request body, JSON inside strings (Feishu content, DingTalk msgParam) opened."""
    if isinstance(node, dict):
        return [t for v in node.values() for t in strings_of(v)]
    if isinstance(node, list):
        return [t for v in node for t in strings_of(v)]
    if isinstance(node, str):
        if node[:1] in "{[":
            try:
                return strings_of(json.loads(node))
            except ValueError:
                pass
        return [node]
    return []


def _allowed(tok: str, user_words: set[str], vocab: set[str]) -> bool:
    low = tok.lower()
    if len(tok) <= 1 or low in user_words or low in BRANDS:
        return True
    if tok in vocab:
        return False
    if any(c.isdigit() for c in tok) or "_" in tok or "-" in tok:
        return True                         # ids, models, codes: V1, ou_chenjie, sbx-media-…
    return tok.isupper() and len(tok) <= 6  # acronyms and product codes: CRM, CT, MRI, ERP


def scan(calls: Iterable[SentCall], said: Iterable[tuple[str, str, str]],
         cfg: AppConfig | None = None, vocab: set[str] | None = None) -> list[Finding]:
    """Every finding in `calls`, given what people wrote (`said`: platform, user id, text);
    `vocab` (else `config_vocabulary(cfg)`) names the raw keys."""
    said, calls = list(said), list(calls)
    # what the bot quotes back in 「」 is the rep's own words (a voice note as it was heard)
    heard = [q for c in calls for q in _QUOTED.findall(_text_of(c))]
    words = user_words([*(t for _, _, t in said), *heard])
    english_on = {p for p, _, text in said if wrote_english(text)}   # replies may go to a chat or message
    vocab = vocab if vocab is not None else config_vocabulary(cfg)
    out: list[Finding] = []
    for call in calls:
        out += scan_call(call, words, vocab, call.platform in english_on)
    return out
