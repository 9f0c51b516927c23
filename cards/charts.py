"""Drawing a card's `Chart` as a PNG (matplotlib, Agg, no pyplot: thread-safe figures), with a
CJK font so the Chinese labels show. Pure: the same chart gives the same bytes (no timestamp
or version in the file), which is what lets the sender upload each picture once per platform.

The font is looked for at run time: `font` (reports.font in the config), then the Debian CJK
fonts (fonts-wqy-microhei, fonts-wqy-zenhei, fonts-noto-cjk), then any installed font whose
name says CJK. Without one `ChartUnavailable` is raised: a chart of empty boxes helps nobody,
and the card goes out as text.
"""
from __future__ import annotations

import io
import os
import threading
from functools import lru_cache
from typing import Any

from cards.model import Chart

CANDIDATE_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)
_CJK_NAMES = ("cjk", "wqy", "wenquanyi", "sourcehan", "source han", "simhei", "msyh", "pingfang", "heiti")
WIDTH_IN, DPI = 8.0, 110               # ≈ 880 px wide: sharp on a phone, a few dozen KB
COLORS = ("#3370ff", "#34c724", "#ff8800", "#f54a45")
_draw_lock = threading.Lock()           # matplotlib's font cache and text layout are shared state


class ChartUnavailable(RuntimeError):
    """No picture can be drawn here (no CJK font, matplotlib missing); send the text version."""


def find_cjk_font(preferred: str | None = None) -> str:
    """The path of a font with Chinese glyphs; raises ChartUnavailable naming what was tried."""
    if preferred:
        if os.path.isfile(preferred):
            return preferred
        raise ChartUnavailable(f"reports.font {preferred!r} is not a file")
    return _system_cjk_font()


@lru_cache(maxsize=1)
def _system_cjk_font() -> str:
    for path in CANDIDATE_FONTS:
        if os.path.isfile(path):
            return path
    try:
        from matplotlib import font_manager   # heavy: only when a chart is drawn
    except ImportError as exc:
        raise ChartUnavailable("matplotlib is not installed") from exc
    for path in sorted(font_manager.findSystemFonts()):
        if any(n in os.path.basename(path).lower() for n in _CJK_NAMES):
            return path
    raise ChartUnavailable("no CJK font found (install fonts-wqy-microhei or fonts-noto-cjk, "
                           "or set reports.font)")


def render_png(chart: Chart, *, font: str | None = None) -> bytes:
    """The chart as PNG bytes. Raises ChartUnavailable when it cannot be drawn here."""
    path = find_cjk_font(font)
    return _render(chart, path)


@lru_cache(maxsize=32)
def _render(chart: Chart, font_path: str) -> bytes:
    try:
        from matplotlib import font_manager, rc_context              # heavy: only when drawing
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ChartUnavailable("matplotlib is not installed") from exc
    with _draw_lock:
        font_manager.fontManager.addfont(font_path)
        family = font_manager.FontProperties(fname=font_path).get_name()
        with rc_context({"font.family": [family], "axes.unicode_minus": False}):
            height = max(3.2, min(7.0, 1.6 + 0.42 * len(chart.labels))) if chart.kind == "funnel" else 4.6
            fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
            {"bar": _bar, "line": _line, "funnel": _funnel}[chart.kind](ax, chart)
            ax.set_title(chart.title, fontsize=14, pad=12)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            fig.tight_layout()
            buf = io.BytesIO()
            # no Software / date chunks: the same chart is the same file (uploaded once)
            fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return f"{text}{unit}"


def _bar(ax: Any, chart: Chart) -> None:
    n = len(chart.series)
    width = 0.8 / n
    xs = range(len(chart.labels))
    for i, s in enumerate(chart.series):
        pos = [x - 0.4 + width * (i + 0.5) for x in xs]
        bars = ax.bar(pos, s.values, width * 0.92, label=s.name or None, color=COLORS[i % len(COLORS)])
        ax.bar_label(bars, labels=[_fmt(v, chart.unit) for v in s.values], fontsize=9, padding=2)
    _category_axis(ax, chart)
    if n > 1 or chart.series[0].name:
        ax.legend(frameon=False, fontsize=9)


def _line(ax: Any, chart: Chart) -> None:
    xs = list(range(len(chart.labels)))
    for i, s in enumerate(chart.series):
        ax.plot(xs, s.values, marker="o", label=s.name or None, color=COLORS[i % len(COLORS)])
        for x, v in zip(xs, s.values):
            ax.annotate(_fmt(v, chart.unit), (x, v), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=9)
    _category_axis(ax, chart)
    if len(chart.series) > 1 or chart.series[0].name:
        ax.legend(frameon=False, fontsize=9)


def _category_axis(ax: Any, chart: Chart) -> None:
    ax.set_xticks(range(len(chart.labels)))
    rotate = 30 if len(chart.labels) > 6 or max(len(x) for x in chart.labels) > 6 else 0
    ax.set_xticklabels(chart.labels, rotation=rotate, ha="right" if rotate else "center", fontsize=10)
    values = [v for s in chart.series for v in s.values]
    top, bottom = max(max(values), 0), min(min(values), 0)     # a loss-making channel goes below 0
    span = (top - bottom) or 1
    ax.set_ylim(bottom - (0.12 * span if bottom < 0 else 0), top + 0.18 * span)
    if bottom < 0:
        ax.axhline(0, color="#999999", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)


def _funnel(ax: Any, chart: Chart) -> None:
    """Centred horizontal bars, widest first, each with its value and share of the first."""
    values = chart.series[0].values
    first = values[0] if values and values[0] else 0
    widest = max(values) if values and max(values) > 0 else 1
    ys = list(range(len(values)))[::-1]
    for i, (y, v) in enumerate(zip(ys, values)):
        ax.barh(y, v, left=(widest - v) / 2, height=0.7, color=COLORS[0], alpha=1 - 0.12 * min(i, 5))
        share = f"（{v / first:.0%}）" if first and i else ""
        ax.text(widest / 2, y, f"{_fmt(v, chart.unit)}{share}", ha="center", va="center", fontsize=10,
                color="white" if v > widest * 0.25 else "black")
    ax.set_yticks(ys)
    ax.set_yticklabels(chart.labels, fontsize=10)
    ax.set_xticks([])
    ax.set_xlim(0, widest)
    ax.spines["bottom"].set_visible(False)
