"""Line charts as inline SVG, drawn on the server (no script, no CDN; screen readers get the title and a
description with each series' latest value). Alarm thresholds are dashed horizontal lines."""
from __future__ import annotations

import datetime as dt

from .html import Markup, h, tag

WIDTH, HEIGHT = 560, 190
LEFT, RIGHT, TOP, BOTTOM = 56, 10, 10, 24
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def _nice(value: float) -> str:
    a = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def line_chart(chart_id: str, title: str, unit: str, series: list[tuple[str, list[tuple[float, float]]]],
               start: float, end: float, thresholds: list[tuple[str, float, str]] = ()) -> Markup:
    """series: (label, [(epoch seconds, value)]); thresholds: (alarm name, value, state)."""
    top = max([v for _, pts in series for _, v in pts] + [t for _, t, _ in thresholds] + [0.0])
    top = top * 1.1 if top > 0 else 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return LEFT + (t - start) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - (v / top) * plot_h

    parts = []
    for i in range(5):                                   # horizontal grid + y labels
        v = top * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{h(_nice(v))}</text>')
    for i in range(5):                                   # time labels
        t = start + span * i / 4
        label = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M")
        parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="middle">{label}</text>')
    legend, latest = [], []
    for n, (label, points) in enumerate(series):
        color = COLORS[n % len(COLORS)]
        pts = sorted(p for p in points if start <= p[0] <= end)
        if pts:
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.8"'
                         f' data-series="{h(label)}" data-points="{len(pts)}" data-last="{pts[-1][1]:.6g}"'
                         f' data-max="{max(v for _, v in pts):.6g}"/>')
            if len(pts) == 1:
                parts.append(f'<circle cx="{x(pts[0][0]):.1f}" cy="{y(pts[0][1]):.1f}" r="2.5" fill="{color}"/>')
            latest.append(f"{label}: {_nice(pts[-1][1])} {unit}")
        legend.append(tag("li", tag("span", "", class_=f"swatch c{n % len(COLORS)}"), label))
    for name, value, state in thresholds:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}"'
                     f' class="threshold {h(state.lower())}"><title>{h(name)}: {h(_nice(value))}</title></line>')
        parts.append(f'<text x="{WIDTH - RIGHT - 2}" y="{y(value) - 3:.1f}" text-anchor="end" class="threshold-label">'
                     f'{h(name)} ({h(state)})</text>')
    desc = "; ".join(latest) or "no data in this time range"
    svg = Markup(f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d"'
                 f' class="chart" id="{chart_id}-svg"><title id="{chart_id}-t">{h(title)} ({h(unit)})</title>'
                 f'<desc id="{chart_id}-d">{h(desc)}</desc>'
                 f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>{"".join(parts)}</svg>')
    return tag("figure", tag("figcaption", title, tag("span", f" ({unit})", class_="muted")), svg,
               tag("ul", *legend, class_="legend") if legend else tag("p", "No data in this time range.",
                                                                          class_="empty"),
               class_="chart-box", id=chart_id, data_refresh=True)
