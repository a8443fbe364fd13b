"""The SVG chart library of the report: time charts, grouped bar charts, budget bars and interval strips.

Each chart is a frozen description in, one `<svg>` string out; nothing here knows what a model, a feature
or an SLO is. Colours are Okabe-Ito, told apart with every common colour-vision deficiency.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from report.scales import Frame, nice_ticks, tick_label, time_axis_title, time_label, time_ticks
from report.text import coord, esc, fmt_pct, fmt_when, shorten

SERIES_COLOURS = ("#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
REFERENCE_COLOUR = "#0072B2"
CURRENT_COLOUR = "#E69F00"
WARN_COLOUR = "#A67C00"
ALERT_COLOUR = "#D55E00"
OK_COLOUR = "#009E73"
GRID_COLOUR = "#E3E6EA"
AXIS_COLOUR = "#5A6270"


@dataclass(frozen=True)
class Point:
    """One window's value on a time chart; x is the window's midpoint."""

    start: dt.datetime
    end: dt.datetime
    value: float | None
    lower: float | None = None
    upper: float | None = None
    note: str = ""  # the marker's tooltip
    hollow: bool = False  # shown but not judged (immature labels)

    @property
    def mid(self) -> float:
        """The window's midpoint in seconds since the epoch."""
        return (self.start.timestamp() + self.end.timestamp()) / 2


@dataclass(frozen=True)
class Series:
    """One named line of a time chart, optionally with its interval band."""

    name: str
    colour: str
    points: tuple[Point, ...]
    band: bool = False  # draw the lower..upper interval as a shaded band
    dashed: bool = False  # an estimate beside a measured series (CBPE beside realized accuracy)


@dataclass(frozen=True)
class Rule:
    """A horizontal reference line: a threshold or a target."""

    label: str
    value: float
    colour: str
    kind: str  # data-kind: warn, alert, target


@dataclass(frozen=True)
class Marker:
    """A vertical event line, e.g. a deploy."""

    label: str
    at: dt.datetime


@dataclass(frozen=True)
class TimeChart:
    """A line chart over event time, as `time_chart` draws it."""

    kind: str  # data-chart
    title: str
    desc: str
    y_label: str
    start: dt.datetime
    end: dt.datetime
    series: tuple[Series, ...]
    rules: tuple[Rule, ...] = ()
    markers: tuple[Marker, ...] = ()
    zero_based: bool = False
    y_cap: float | None = None  # no tick above this (1.0 for a proportion)
    attrs: Mapping[str, str] = field(default_factory=dict)
    width: int = 640
    height: int = 270


@dataclass(frozen=True)
class BarChart:
    """A grouped bar chart of shares per category, as `bar_chart` draws it."""

    kind: str
    title: str
    desc: str
    y_label: str
    labels: tuple[str, ...]  # short axis labels
    full_labels: tuple[str, ...]  # tooltips
    groups: tuple[tuple[str, str, tuple[float, ...]], ...]  # (name, colour, share per bar)
    attrs: Mapping[str, str] = field(default_factory=dict)
    width: int = 640
    height: int = 290


def _svg_open(kind: str, title: str, desc: str, width: int, height: int, attrs: Mapping[str, str]) -> str:
    """The opening `<svg>` with its accessible title and description and data attributes."""
    extra = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in sorted(attrs.items()))
    return (
        f'<svg class="chart" data-chart="{esc(kind)}"{extra} viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" preserveAspectRatio="xMidYMid meet">'
        f"<title>{esc(title)}</title><desc>{esc(desc)}</desc>"
    )


def _legend(items: Sequence[tuple[str, str, str]], x: float, y: float, limit: float) -> str:
    """Legend entries (label, colour, swatch kind: line | dash | band | bar | dot) in a row, wrapping."""
    out = ['<g class="legend">']
    cx, cy = x, y
    for label, colour, swatch in items:
        width = 26 + 6.2 * len(label)
        if cx + width > limit and cx > x:
            cx, cy = x, cy + 16
        if swatch == "line":
            out.append(
                f'<line x1="{coord(cx)}" y1="{coord(cy)}" x2="{coord(cx + 18)}" y2="{coord(cy)}" '
                f'stroke="{colour}" stroke-width="2.5"/>'
            )
        elif swatch == "dash":
            out.append(
                f'<line x1="{coord(cx)}" y1="{coord(cy)}" x2="{coord(cx + 18)}" y2="{coord(cy)}" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="5 3"/>'
            )
        else:
            opacity = ' fill-opacity="0.2"' if swatch == "band" else ""
            out.append(
                f'<rect x="{coord(cx)}" y="{coord(cy - 5)}" width="18" height="10" fill="{colour}"{opacity}/>'
            )
        out.append(f'<text x="{coord(cx + 23)}" y="{coord(cy + 4)}" class="legend-text">{esc(label)}</text>')
        cx += width + 10
    out.append("</g>")
    return "".join(out)


def _y_axis(frame: Frame, ticks: Sequence[float], label: str, percent: bool = False) -> str:
    """Horizontal grid lines with tick labels, the rotated axis title and the baseline."""
    out = ['<g class="axis y-axis">']
    for t in ticks:
        y = frame.y(t)
        out.append(
            f'<line x1="{coord(frame.left)}" y1="{coord(y)}" x2="{coord(frame.right)}" y2="{coord(y)}" '
            f'stroke="{GRID_COLOUR}"/>'
        )
        out.append(
            f'<text x="{coord(frame.left - 6)}" y="{coord(y + 4)}" text-anchor="end" class="tick">'
            f"{esc(tick_label(t, percent))}</text>"
        )
    mid = (frame.top + frame.bottom) / 2
    out.append(
        f'<text x="14" y="{coord(mid)}" transform="rotate(-90 14 {coord(mid)})" text-anchor="middle" '
        f'class="axis-title">{esc(label)}</text>'
    )
    out.append(
        f'<line x1="{coord(frame.left)}" y1="{coord(frame.bottom)}" x2="{coord(frame.right)}" '
        f'y2="{coord(frame.bottom)}" stroke="{AXIS_COLOUR}"/>'
    )
    out.append("</g>")
    return "".join(out)


def _segments(points: Sequence[Point]) -> list[list[Point]]:
    """Runs of adjacent windows with a value; a missing window or value breaks the line."""
    runs: list[list[Point]] = []
    previous: Point | None = None
    for p in points:
        if p.value is None:
            previous = None
            continue
        if previous is None or p.start != previous.end:
            runs.append([])
        runs[-1].append(p)
        previous = p
    return runs


def _time_frame(chart: TimeChart) -> tuple[Frame, list[float]]:
    """The plot frame of a time chart and its y ticks: round values over every value, band and rule."""
    values = [v for s in chart.series for p in s.points for v in (p.value, p.lower, p.upper) if v is not None]
    values += [r.value for r in chart.rules]
    lo = 0.0 if chart.zero_based or not values else min(values)
    hi = max(values, default=1.0)
    if chart.y_cap is not None:
        hi = min(hi, chart.y_cap)
        lo = min(lo, hi)
    ticks = nice_ticks(lo, hi * 1.05 if chart.zero_based else hi)
    if chart.y_cap is not None:
        ticks = [t for t in ticks if t <= chart.y_cap + 1e-9] or ticks
    legend_rows = 2 if len(chart.series) + len(chart.rules) > 4 else 1
    top = 22 + 16 * legend_rows
    frame = Frame(
        56,
        top,
        chart.width - 18,
        chart.height - 46,
        chart.start.timestamp(),
        chart.end.timestamp(),
        ticks[0],
        ticks[-1],
    )
    return frame, ticks


def _time_axis(chart: TimeChart, frame: Frame) -> str:
    """The event-time axis: round UTC ticks and a title."""
    out = ['<g class="axis x-axis">']
    for t in time_ticks(chart.start, chart.end):
        x = frame.x(t.timestamp())
        out.append(
            f'<line x1="{coord(x)}" y1="{coord(frame.bottom)}" x2="{coord(x)}" y2="{coord(frame.bottom + 4)}" '
            f'stroke="{AXIS_COLOUR}"/>'
        )
        out.append(
            f'<text x="{coord(x)}" y="{coord(frame.bottom + 17)}" text-anchor="middle" class="tick">'
            f"{esc(time_label(t, chart.start, chart.end))}</text>"
        )
    out.append(
        f'<text x="{coord((frame.left + frame.right) / 2)}" y="{chart.height - 6}" text-anchor="middle" '
        f'class="axis-title">{esc(time_axis_title(chart.start, chart.end))}</text></g>'
    )
    return "".join(out)


def _event_markers(chart: TimeChart, frame: Frame) -> str:
    """Vertical dotted lines for deploys and other events."""
    out = []
    for m in chart.markers:
        x = frame.x(m.at.timestamp())
        out.append(
            f'<g class="marker"><title>{esc(m.label)} at {esc(fmt_when(m.at))} UTC</title>'
            f'<line x1="{coord(x)}" y1="{coord(frame.top)}" x2="{coord(x)}" y2="{coord(frame.bottom)}" '
            f'stroke="{AXIS_COLOUR}" stroke-dasharray="2 3"/>'
            f'<text x="{coord(x + 3)}" y="{coord(frame.top + 10)}" class="note">{esc(shorten(m.label, 20))}</text>'
            "</g>"
        )
    return "".join(out)


def _bands(chart: TimeChart, frame: Frame) -> str:
    """Shaded interval bands, drawn under the lines."""
    out = []
    for s in chart.series:
        if not s.band:
            continue
        for run in _segments([p for p in s.points if p.lower is not None and p.upper is not None]):
            upper = [f"{coord(frame.x(p.mid))},{coord(frame.y(p.upper or 0.0))}" for p in run]
            lower = [f"{coord(frame.x(p.mid))},{coord(frame.y(p.lower or 0.0))}" for p in reversed(run)]
            out.append(
                f'<polygon class="band" data-series="{esc(s.name)}" points="{" ".join(upper + lower)}" '
                f'fill="{s.colour}" fill-opacity="0.18" stroke="none"/>'
            )
    return "".join(out)


def _rules(chart: TimeChart, frame: Frame) -> str:
    """Dashed horizontal threshold and target lines with their labels."""
    out = []
    for r in chart.rules:
        y = frame.y(r.value)
        out.append(
            f'<g class="rule"><line class="threshold" data-kind="{esc(r.kind)}" data-value="{r.value:g}" '
            f'x1="{coord(frame.left)}" y1="{coord(y)}" x2="{coord(frame.right)}" y2="{coord(y)}" stroke="{r.colour}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text x="{coord(frame.right - 4)}" y="{coord(y - 4)}" text-anchor="end" class="note" '
            f'fill="{r.colour}">{esc(r.label)}</text></g>'
        )
    return "".join(out)


def _lines(chart: TimeChart, frame: Frame) -> str:
    """Each series' lines (broken at gaps) and a marker per window with a tooltip."""
    out = []
    for s in chart.series:
        out.append(f'<g class="series" data-series="{esc(s.name)}">')
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        for run in _segments(s.points):
            coords = " ".join(f"{coord(frame.x(p.mid))},{coord(frame.y(p.value or 0.0))}" for p in run)
            out.append(
                f'<polyline class="line" points="{coords}" fill="none" stroke="{s.colour}" '
                f'stroke-width="2" stroke-linejoin="round"{dash}/>'
            )
        for p in s.points:
            if p.value is None:
                continue
            fill = "#ffffff" if p.hollow else s.colour
            out.append(
                f'<circle class="point" cx="{coord(frame.x(p.mid))}" cy="{coord(frame.y(p.value))}" r="3" '
                f'fill="{fill}" stroke="{s.colour}" stroke-width="1.5"><title>{esc(p.note)}</title></circle>'
            )
        out.append("</g>")
    return "".join(out)


def time_chart(chart: TimeChart) -> str:
    """A line chart over event time: series with optional interval bands, threshold rules and event markers."""
    frame, ticks = _time_frame(chart)
    items: list[tuple[str, str, str]] = [(s.name, s.colour, "dash" if s.dashed else "line") for s in chart.series]
    items += [(f"{s.name}: 95% interval", s.colour, "band") for s in chart.series if s.band]
    items += [(r.label, r.colour, "dash") for r in chart.rules]
    return "".join(
        (
            _svg_open(chart.kind, chart.title, chart.desc, chart.width, chart.height, chart.attrs),
            f'<rect x="0" y="0" width="{chart.width}" height="{chart.height}" fill="#ffffff"/>',
            _y_axis(frame, ticks, chart.y_label),
            _time_axis(chart, frame),
            _event_markers(chart, frame),
            _bands(chart, frame),
            _rules(chart, frame),
            _lines(chart, frame),
            _legend(items, frame.left, 14, chart.width - 10),
            "</svg>",
        )
    )


def bar_chart(chart: BarChart) -> str:
    """Grouped bars per category (shares of a sample), e.g. reference vs current distribution."""
    n = len(chart.labels)
    hi = max((v for _, _, vals in chart.groups for v in vals), default=0.0)
    ticks = nice_ticks(0.0, max(hi, 0.01) * 1.05)
    longest = max((len(label) for label in chart.labels), default=0)
    slot = (chart.width - 56 - 18) / max(n, 1)
    rotate = longest * 6.6 + 8 > slot
    bottom = chart.height - (30 + min(longest, 16) * 4.2 if rotate else 46)
    frame = Frame(56, 38, chart.width - 18, bottom, 0.0, float(max(n, 1)), ticks[0], ticks[-1])
    out = [_svg_open(chart.kind, chart.title, chart.desc, chart.width, chart.height, chart.attrs)]
    out.append(f'<rect x="0" y="0" width="{chart.width}" height="{chart.height}" fill="#ffffff"/>')
    out.append(_y_axis(frame, ticks, chart.y_label, percent=True))
    groups = max(len(chart.groups), 1)
    bar = slot * 0.8 / groups
    for i, (label, full) in enumerate(zip(chart.labels, chart.full_labels, strict=True)):
        x0 = frame.x(i) + slot * 0.1
        for j, (name, colour, vals) in enumerate(chart.groups):
            v = vals[i]
            y = frame.y(v)
            out.append(
                f'<rect class="bar" data-group="{esc(name)}" x="{coord(x0 + j * bar)}" y="{coord(y)}" '
                f'width="{coord(max(bar - 1, 1))}" height="{coord(frame.bottom - y)}" fill="{colour}">'
                f"<title>{esc(full)}: {esc(name)} {fmt_pct(v)}</title></rect>"
            )
        cx, ty = frame.x(i + 0.5), frame.bottom + 14
        if rotate:
            out.append(
                f'<text x="{coord(cx)}" y="{coord(ty)}" text-anchor="end" class="tick" '
                f'transform="rotate(-35 {coord(cx)} {coord(ty)})">{esc(label)}</text>'
            )
        else:
            out.append(
                f'<text x="{coord(cx)}" y="{coord(ty)}" text-anchor="middle" class="tick">{esc(label)}</text>'
            )
    out.append(
        _legend([(name, colour, "bar") for name, colour, _ in chart.groups], frame.left, 16, chart.width - 10)
    )
    out.append("</svg>")
    return "".join(out)


def budget_chart(rows: Sequence[tuple[str, float]], title: str, desc: str) -> str:
    """Horizontal bars of error budget remaining per SLO, on -100%..100% (values beyond are clipped)."""
    width, row_h = 640, 30
    height = 58 + row_h * len(rows)
    frame = Frame(200, 20, width - 96, height - 34, -1.0, 1.0, 0.0, 1.0)
    out = [_svg_open("slo-budget", title, desc, width, height, {})]
    out.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>')
    for t in (-1.0, -0.5, 0.0, 0.5, 1.0):
        x = frame.x(t)
        stroke = AXIS_COLOUR if t == 0 else GRID_COLOUR
        out.append(
            f'<line x1="{coord(x)}" y1="{coord(frame.top)}" x2="{coord(x)}" y2="{coord(frame.bottom)}" '
            f'stroke="{stroke}"/>'
        )
        out.append(
            f'<text x="{coord(x)}" y="{coord(frame.bottom + 14)}" text-anchor="middle" class="tick">'
            f"{tick_label(t, percent=True)}</text>"
        )
    out.append(
        f'<text x="{coord((frame.left + frame.right) / 2)}" y="{height - 4}" text-anchor="middle" '
        'class="axis-title">Error budget remaining over the SLO period</text>'
    )
    for i, (name, remaining) in enumerate(rows):
        y = frame.top + 6 + i * row_h
        shown = min(max(remaining, -1.0), 1.0)
        x0, x1 = sorted((frame.x(0.0), frame.x(shown)))
        colour = OK_COLOUR if remaining > 0.5 else WARN_COLOUR if remaining > 0 else ALERT_COLOUR
        out.append(
            f'<text x="{coord(frame.left - 8)}" y="{coord(y + 13)}" text-anchor="end" class="label">'
            f"{esc(shorten(name, 28))}</text>"
        )
        out.append(
            f'<rect class="bar" data-slo="{esc(name)}" x="{coord(x0)}" y="{coord(y)}" '
            f'width="{coord(max(x1 - x0, 1))}" height="18" fill="{colour}">'
            f"<title>{esc(name)}: {fmt_pct(remaining)} of the error budget left</title></rect>"
        )
        clipped = " (beyond the axis)" if shown != remaining else ""
        out.append(
            f'<text x="{width - 8}" y="{coord(y + 13)}" text-anchor="end" class="value">'
            f"{fmt_pct(remaining)}<title>{fmt_pct(remaining)} left{clipped}</title></text>"
        )
    out.append("</svg>")
    return "".join(out)


def interval_strip(
    value: float, lower: float, upper: float, lo: float, hi: float, overall: float | None, title: str
) -> str:
    """A dot-and-whisker of one value and its interval on a shared scale, for a table cell."""
    width, height = 160, 20
    frame = Frame(6, 2, width - 6, height - 2, lo, hi, 0.0, 1.0)
    out = [_svg_open("interval", title, title, width, height, {})]
    if overall is not None:
        x = frame.x(overall)
        out.append(
            f'<line x1="{coord(x)}" y1="1" x2="{coord(x)}" y2="{height - 1}" stroke="{AXIS_COLOUR}" '
            'stroke-dasharray="2 2"/>'
        )
    out.append(
        f'<line x1="{coord(frame.x(lower))}" y1="10" x2="{coord(frame.x(upper))}" y2="10" '
        f'stroke="{REFERENCE_COLOUR}" stroke-width="2"/>'
    )
    out.append(f'<circle cx="{coord(frame.x(value))}" cy="10" r="4" fill="{REFERENCE_COLOUR}"/></svg>')
    return "".join(out)
