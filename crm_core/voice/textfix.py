"""Repairs to what Whisper wrote, each keeping a confidence per character: Simplified script,
loops (one character or phrase said dozens of times), echoes of the decoding prompt, and
`carry` to move per-character confidences across any rewrite of the text."""
from __future__ import annotations

import difflib
import re
import zlib
from collections.abc import Sequence

import zhconv

# Whisper's own loop test: text that compresses this well repeats itself.
LOOP_COMPRESSION_RATIO = 2.4
# A unit of 1-8 characters said this many times in a row (嗯嗯嗯嗯 is speech; 的的的的的的 is a loop).
_REPEAT_RE = re.compile(r"(.{1,8}?)\1{3,}", re.DOTALL)
_ECHO_MIN_CHARS = 6
_PUNCT = "，。、；：！？,.;:!? "


def to_simplified(text: str) -> str:
    """Traditional (or mixed) Chinese → Simplified; other scripts untouched."""
    return str(zhconv.convert(text, "zh-cn"))


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / max(1, len(zlib.compress(raw)))


def _real_repeats(text: str) -> list[re.Match[str]]:
    """Repeats that are no ordinary speech: fillers (嗯嗯) and digits (8888) may repeat."""
    found = []
    for match in _REPEAT_RE.finditer(text):
        unit = match.group(1)
        if unit.strip(_PUNCT) == "" or unit.isdigit() or set(unit) <= set("嗯啊呃哦额"):
            continue
        if len(match.group()) // len(unit) >= 4:
            found.append(match)
    return found


def has_loop(text: str) -> bool:
    """A decoding loop: the same unit four times running, or text that compresses too well."""
    folded = re.sub(r"\s+", "", text)
    return bool(_real_repeats(folded)) or (len(folded) >= 24 and compression_ratio(folded) > LOOP_COMPRESSION_RATIO)


def collapse_loops(text: str) -> str:
    """Keep one copy of each looping unit (the rest was never said)."""
    out, last = [], 0
    for match in _real_repeats(text):
        out.append(text[last:match.start()] + match.group(1))
        last = match.end()
    return "".join(out) + text[last:]


def strip_prompt_echo(text: str, prompt: str | None) -> str:
    """Remove stretches of the decoding prompt (≥ 6 characters) that the model wrote back as if heard."""
    if not prompt:
        return text
    sentences = [s for s in re.split(r"[。！？!?\n]", prompt) if len(s.strip(_PUNCT)) >= _ECHO_MIN_CHARS]
    for sentence in sentences:
        text = _strip_common(text, sentence)
    return text


def _strip_common(text: str, sentence: str) -> str:
    while True:
        match = difflib.SequenceMatcher(None, text, sentence, autojunk=False).find_longest_match(
            0, len(text), 0, len(sentence))
        if match.size < _ECHO_MIN_CHARS:
            return text
        text = text[:match.a] + text[match.a + match.size:]


def carry(old: str, confidence: Sequence[float], new: str) -> list[float]:
    """Per-character confidences for `new`, a rewrite of `old`: kept where characters are kept, the
    lowest of the replaced stretch where they changed, the neighbours' lowest for pure insertions."""
    if old == new:
        return list(confidence)
    out: list[float] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(confidence[i1:i2])
        elif tag in ("replace", "insert") and j2 > j1:
            source = confidence[i1:i2] if i2 > i1 else confidence[max(0, i1 - 1):i1 + 1]
            out.extend([min(source) if len(source) else 1.0] * (j2 - j1))
    return out
