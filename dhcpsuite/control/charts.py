# -*- test-case-name: tests.unit.test_control_page -*-
"""
Pictures for the status page, drawn on the server as markup: usage bars
and the exchanges-per-minute chart (inline SVG). No script, and no C{style}
attribute (the page's CSP allows only its one stylesheet): a bar's width is
one of a fixed set of CSS classes, in 2 % steps, and the chart's geometry
is SVG attributes.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

# Bar widths are drawn in steps of this many percent.
BAR_STEP = 2
# Above these fractions a bar turns amber, then red.
WARN_AT = 0.80
FULL_AT = 0.95

# The chart's canvas (SVG user units) and its margins for the axis labels.
WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 24


def bar_css() -> str:
    """
    The rules the bars use: one width class per step.
    """
    return "".join(f".w{p}{{width:{p}%}}" for p in range(0, 101, BAR_STEP))


def bar_steps(used: int, size: int) -> int:
    """
    The bar width in percent, a multiple of L{BAR_STEP}. Any use shows at
    least one step and a pool that is not full never shows full, so the
    picture never says "empty" or "full" when the numbers do not.
    """
    if size <= 0 or used <= 0:
        return 0
    if used >= size:
        return 100
    # Half a step rounds up (not to even), so 33 % draws as 34 %, not 32 %.
    steps = int(used * 100 / BAR_STEP / size + 0.5)
    return min(max(steps, 1), 100 // BAR_STEP - 1) * BAR_STEP


def usage_bar(used: int, size: int, label: str) -> str:
    """
    One horizontal bar, with the numbers beside it as text (the bar is a
    picture of them, not a replacement). C{label} is plain text.
    """
    width = bar_steps(used, size)
    fraction = used / size if size > 0 else 0.0
    level = "full" if fraction >= FULL_AT else "warn" if fraction >= WARN_AT else "fine"
    percent = f"{fraction * 100:.1f}".rstrip("0").rstrip(".")
    text = f"{used} of {size} in use ({percent} %)"
    return (
        f'<div class="usage" role="img" aria-label="{html.escape(label)}: {text}">'
        f'<div class="track"><div class="fill {level} w{width}"></div></div>'
        f'<span class="figures">{text}</span></div>'
    )


def _nice_step(value: float) -> int:
    """
    The smallest 1, 2 or 5 times a power of ten at or above C{value} (at least 1).
    """
    if value <= 1:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    for factor in (1, 2, 5, 10):
        if factor * power >= value:
            return factor * power
    return 10 * power


def exchanges_chart(series: Sequence[Sequence[int]], lines: Sequence[tuple[str, str]], title: str) -> str:
    """
    A line chart of per-minute counts, oldest minute first, one line per
    C{(key, label)} of C{lines} (C{series[minute][line]}), with a y axis in
    four round steps and the minutes on the x axis. Each line is an SVG
    C{polyline} of class C{line-KEY}, titled with its label; the chart's
    C{<title>} says what it shows as text.
    """
    minutes = len(series)
    peak = max((max(row) for row in series), default=0)
    step = _nice_step(peak / 4)
    top = 4 * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (minutes - 1) if minutes > 1 else 0)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{html.escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{html.escape(title)}</title>",
    ]
    for tick in range(0, 5):
        value = step * tick
        ty = y(value)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{value}</text>')
    if minutes > 1:
        for ago in range(10 * ((minutes - 1) // 10), 0, -10):
            tx = x(minutes - 1 - ago)
            parts.append(f'<line class="tick" x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}"/>')
            parts.append(f'<text class="axis" x="{tx:.1f}" y="{HEIGHT - 6}" text-anchor="middle">−{ago} min</text>')
        parts.append(f'<text class="axis" x="{x(minutes - 1):.1f}" y="{HEIGHT - 6}" text-anchor="end">now</text>')
    # The first line is drawn last, on top: where lines coincide (every
    # offer acked) the first stays visible, dashed over the second.
    for line, (key, label) in reversed(list(enumerate(lines))):
        points = " ".join(f"{x(i):.1f},{y(row[line]):.1f}" for i, row in enumerate(series))
        parts.append(f'<polyline class="line line-{html.escape(key)}" points="{points}"><title>{html.escape(label)}</title></polyline>')
    parts.append("</svg>")
    return "".join(parts)
