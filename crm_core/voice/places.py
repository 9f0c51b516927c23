"""Cities and provinces heard right but written with other characters of the same sound and tone
(和肥 → 合肥, 哈尔宾 → 哈尔滨, 实家装 → 石家庄): the company names reps say mostly start with one.

Strict on purpose, as the gazetteer is all it knows: every character must have the place's own
reading with the same tone (no near sounds), and a stretch that is itself a word (实验 is no 十堰)
or already a place is kept.
"""
from __future__ import annotations

import functools
import re

from crm_core.extract.gazetteer import PLACES
from crm_core.extract.segment import word_frequency
from crm_core.voice.surnames import usual_reading

_CJK = re.compile(r"[\u4e00-\u9fff]+")


@functools.lru_cache(maxsize=1)
def _places_by_sound() -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {}
    for place in sorted(PLACES):
        key = tuple(usual_reading(ch) for ch in place)
        table.setdefault(key, place)        # two places read alike: the first (sorted) one, always the same
    return table


def correct_places(text: str) -> str:
    """`text` with sound-alike spellings of known places replaced, longest places first."""
    table = _places_by_sound()
    sizes = sorted({len(key) for key in table}, reverse=True)
    chars = list(text)
    done = [False] * len(chars)
    for run in _CJK.finditer(text):
        readings = [usual_reading(ch) for ch in run.group()]
        for size in sizes:
            for offset in range(0, len(readings) - size + 1):
                start = run.start() + offset
                if any(done[start:start + size]):
                    continue
                window = text[start:start + size]
                place = table.get(tuple(readings[offset:offset + size]))
                if place is None:
                    continue
                done[start:start + size] = [True] * size
                if window != place and window not in PLACES and not word_frequency(window):
                    chars[start:start + size] = list(place)
    return "".join(chars)
