"""Word segmentation and dictionary part-of-speech tags for the field extractors (jieba).

jieba ships its dictionary inside the package, so nothing is downloaded. The dictionary is
loaded once, on first use, under a lock (a second thread waits for the first load instead
of starting its own); `warm_up()` lets a process pay that cost at start-up instead of on
the first chat message. Segmentations are cached per text, so the extractors that look at
the same note share one.

Tags are the dictionary's (jieba's ICTCLAS-style set: n noun, nr person, ns place, nt
organisation, nz other proper noun, v verb, t time …); a word the dictionary lacks (found
by jieba's HMM, typically a name) has the tag "" and frequency 0.
"""
from __future__ import annotations

import bisect
import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Token:
    word: str
    start: int
    end: int
    tag: str  # dictionary POS tag; "" when the word is not in the dictionary
    freq: int  # dictionary frequency; 0 when not in the dictionary

    @property
    def known(self) -> bool:
        return self.freq > 0


_BLOCK_RE = re.compile(r"[\u4e00-\u9fd5a-zA-Z0-9+#&._%\-]+")  # jieba's own: it segments each run alone


_PIECE = 128  # a run longer than this (pasted text, never a rep's phrase) is cut in pieces of this size


def _pieces(start: int, end: int) -> list[tuple[int, int]]:
    if end - start <= 2 * _PIECE:
        return [(start, end)]
    return [(at, min(at + _PIECE, end)) for at in range(start, end, _PIECE)]


class Segmentation:
    """The words of one text. jieba cuts each run of Han/alphanumeric characters on its own, so a
    run is segmented only when a question touches it: a 20,000-character note costs what the
    few places the extractors look at cost. Any other character is a word by itself."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._runs = [piece for m in _BLOCK_RE.finditer(text) for piece in _pieces(m.start(), m.end())]
        self._run_starts = [start for start, _end in self._runs]
        self._cut: dict[int, tuple[list[int], tuple[Token, ...]]] = {}  # run index → (word starts, words)

    def _run_words(self, index: int) -> tuple[list[int], tuple[Token, ...]]:
        done = self._cut.get(index)
        if done is None:
            start, end = self._runs[index]
            tokenizer, tags = _load()
            freq: dict[str, int] = tokenizer.FREQ
            words = tuple(Token(word, start + a, start + b, tags.get(word, "") if freq.get(word) else "",
                                freq.get(word) or 0)
                          for word, a, b in tokenizer.tokenize(self.text[start:end], HMM=True))
            done = ([w.start for w in words], words)
            self._cut[index] = done  # a race only computes the same words twice
        return done

    def token_at(self, pos: int) -> Token | None:
        """The word covering character `pos`."""
        if not 0 <= pos < len(self.text):
            return None
        index = bisect.bisect_right(self._run_starts, pos) - 1
        if index < 0 or pos >= self._runs[index][1]:
            return Token(self.text[pos], pos, pos + 1, "", 0)
        starts, words = self._run_words(index)
        return words[bisect.bisect_right(starts, pos) - 1]

    def boundary(self, pos: int) -> bool:
        """True when `pos` falls between two words (or at either end of the text)."""
        if pos <= 0 or pos >= len(self.text):
            return True
        token = self.token_at(pos)
        return token is None or token.start == pos

    def aligned(self, start: int, end: int) -> bool:
        return self.boundary(start) and self.boundary(end)

    def words_in(self, start: int, end: int) -> list[Token]:
        """The words that overlap text[start:end]."""
        found: list[Token] = []
        pos = max(0, start)
        while pos < min(end, len(self.text)):
            token = self.token_at(pos)
            if token is None:
                break
            found.append(token)
            pos = token.end
        return found

    @property
    def tokens(self) -> tuple[Token, ...]:
        """Every word of the text (segments all of it: for short texts)."""
        return tuple(self.words_in(0, len(self.text)))

    def snap_start(self, pos: int) -> int:
        """`pos` moved forward to the next word start if it falls inside a word."""
        token = self.token_at(pos)
        return pos if token is None or token.start == pos else token.end

    def snap_end(self, pos: int) -> int:
        """`pos` moved forward to the end of the word it falls inside."""
        token = self.token_at(pos - 1) if pos > 0 else None
        return pos if token is None or token.end == pos else token.end


def _load() -> tuple[Any, dict[str, str]]:
    """(tokenizer, word → tag), built once per process."""
    loaded = _state.get("jieba")
    if loaded is not None:
        return loaded
    with _lock:
        loaded = _state.get("jieba")
        if loaded is None:
            import jieba  # type: ignore[import-untyped]
            import jieba.posseg  # type: ignore[import-untyped]

            jieba.setLogLevel(logging.WARNING)  # jieba prints its loading steps at DEBUG otherwise
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            tags: dict[str, str] = jieba.posseg.POSTokenizer(tokenizer).word_tag_tab
            loaded = (tokenizer, tags)
            _state["jieba"] = loaded
    return loaded


def warm_up() -> None:
    """Load the dictionaries now (a second or two) rather than on the first note."""
    from crm_core.normalize.text import char_readings

    _load()
    char_readings("中")  # the pinyin table crm_core.extract.typos reads


def dictionary() -> tuple[dict[str, int], dict[str, str]]:
    """(word → frequency, word → tag) of the whole dictionary; the frequencies also hold every
    prefix of a word (as 0), so a caller can grow candidate words one character at a time."""
    tokenizer, tags = _load()
    return tokenizer.FREQ, tags


def word_frequency(word: str) -> int:
    """How often the dictionary has seen `word` (0: not a dictionary word)."""
    return int(_load()[0].FREQ.get(word) or 0)


@lru_cache(maxsize=256)
def segment(text: str) -> Segmentation:
    """The words of `text` with their positions, tags and frequencies (segmented on demand)."""
    return Segmentation(text)
