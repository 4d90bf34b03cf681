"""Small inline SVG charts for the HTML report: no script, no external asset, readable offline and
in a mail client. Values are drawn as given; every label is escaped."""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

#: Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
WIDTH, HEIGHT = 600, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 190, 30, 36


def _number(value: float) -> str:
    """1.2M, 35k, 12.5, 3: tick and legend labels."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


def _nice(value: float) -> float:
    """The axis top: the next of 1, 2, 4, 6, 8 x 10^k, so the quarter ticks are round numbers."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 4, 6, 8, 10) if value <= step * power * 1.0000001)


def _frame(title: str, labels: Sequence[str], top: float, unit: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<text x="{LEFT}" y="18" class="t">{escape(title)}</text>']
    for step in range(5):
        value = top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" class="g"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="y">{escape(_number(value) + unit)}</text>')
    # A label is about 70px wide: show every n-th so that they never overlap.
    every = max(1, math.ceil(len(labels) * 78 / plot_w))
    for index, label in enumerate(labels):
        if index % every == 0:
            x = LEFT + _x(index, len(labels), plot_w)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="x">{escape(label)}</text>')
    return parts


def _x(index: int, count: int, plot_w: float) -> float:
    return plot_w * (index + 0.5) / max(count, 1)


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    for index, name in enumerate(names[:12]):
        y = TOP + 14 * index
        color = PALETTE[index % len(PALETTE)]
        shown = name if len(name) <= 30 else name[:29] + "\u2026"
        parts.append(f'<rect x="{WIDTH - RIGHT + 12}" y="{y}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{WIDTH - RIGHT + 26}" y="{y + 9}" class="l">{escape(shown)}</text>')
    return parts


def _svg(title: str, parts: list[str]) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(parts) + "</svg>"
    )


def _empty(title: str) -> str:
    return _svg(title, [f'<text x="{LEFT}" y="18" class="t">{escape(title)}</text>',
                        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="x">no data in these runs</text>'])


def line_chart(title: str, labels: Sequence[str], series: dict[str, list[float | None]], unit: str = "") -> str:
    """One line per series over the runs (None: no value in that run, the line breaks)."""
    values = [value for points in series.values() for value in points if value is not None]
    if not values:
        return _empty(title)
    top = _nice(max(values) * 1.05)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, labels, top, unit)
    for index, (name, points) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        segment: list[str] = []
        runs: list[list[str]] = [segment]
        for position, value in enumerate(points):
            if value is None:
                segment = []
                runs.append(segment)
                continue
            x = LEFT + _x(position, len(labels), plot_w)
            y = TOP + plot_h - plot_h * value / top
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"><title>{escape(name)}: '
                         f'{escape(_number(value) + unit)}</title></circle>')
        for points_text in runs:
            if len(points_text) > 1:
                parts.append(f'<polyline points="{" ".join(points_text)}" fill="none" stroke="{color}" stroke-width="2"/>')
    return _svg(title, parts + _legend(list(series)))


def stacked_bars(title: str, labels: Sequence[str], stacks: dict[str, list[float]], unit: str = "") -> str:
    """One bar per run, stacked by series (quarantine reasons, stages)."""
    totals = [sum(points[index] for points in stacks.values()) for index in range(len(labels))]
    if not stacks or not any(totals):
        return _empty(title)
    top = _nice(max(totals) * 1.05)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar = max(2.0, plot_w / max(len(labels), 1) * 0.7)
    parts = _frame(title, labels, top, unit)
    for position in range(len(labels)):
        x = LEFT + _x(position, len(labels), plot_w) - bar / 2
        base = TOP + plot_h
        for index, (name, points) in enumerate(stacks.items()):
            height = plot_h * points[position] / top
            if height <= 0:
                continue
            base -= height
            parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                         f'fill="{PALETTE[index % len(PALETTE)]}"><title>{escape(name)}: '
                         f'{escape(_number(points[position]) + unit)}</title></rect>')
    return _svg(title, parts + _legend(list(stacks)))
