"""`driftline report`: one self-contained HTML page of a model's key views, for people without Grafana.

The page holds drift per feature over time (with the warn and alert thresholds), reference vs current
distributions of the newest complete window, realized accuracy per window with its interval, a slice
table and the SLO budgets. Plots are inline SVG drawn here, so the file fetches nothing (a
Content-Security-Policy says so to the browser too), runs no script, and can be attached to a ticket.

The database is only read. Every text that comes from it is escaped; the output is a pure function
of the database and `now`, so two reports of the same data are byte-identical.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from slo.definition import SLO
from spec import Drift, ResolvedSpec

MAX_WINDOWS = 500  # newest windows shown; older ones are left out (the header says so)
MAX_BARS = 24  # categories shown per distribution; the rest are folded into one bar

# Okabe-Ito colours: told apart with every common colour-vision deficiency.
SERIES_COLOURS = ("#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
REFERENCE_COLOUR = "#0072B2"
CURRENT_COLOUR = "#E69F00"
WARN_COLOUR = "#A67C00"
ALERT_COLOUR = "#D55E00"
OK_COLOUR = "#009E73"
GRID_COLOUR = "#E3E6EA"
AXIS_COLOUR = "#5A6270"

METRIC_NAMES = {
    "psi": "PSI",
    "kl": "KL divergence",
    "kl_reverse": "reverse KL divergence",
    "js": "JS distance",
    "ks": "KS statistic",
    "wasserstein": "Wasserstein distance",
    "chi2": "chi-squared",
    "accuracy": "Accuracy",
    "mae": "Mean absolute error",
}
STATUS_CLASSES = {
    "ok": "st-ok",
    "warn": "st-warn",
    "alert": "st-alert",
    "insufficient_data": "st-none",
    "immature": "st-none",
}
DASH = "\u2013"  # en dash, for ranges and for "no value"
TIMES = "\u00d7"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


class ReportError(Exception):
    """The report cannot be built (no database there, not a Driftline database, an unknown model)."""


# ------------------------------------------------------------------------------------------- text


def _e(value: object) -> str:
    """Text from anywhere, escaped for HTML and SVG text and attribute values."""
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:.{digits}f}"


def _pct(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value * 100:.{digits}f}%"


def _when(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _span(start: dt.datetime, end: dt.datetime) -> str:
    """A window as text: "2026-03-02 07:00-08:00 UTC" (with an en dash)."""
    same_day = start.date() == end.date() or end == dt.datetime.combine(
        start.date() + dt.timedelta(days=1), dt.time(), dt.UTC
    )
    return f"{_when(start)}{DASH}{end.strftime('%H:%M') if same_day else _when(end)} UTC"


def _metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric.upper())


def _status(status: str) -> str:
    """A status badge; the class comes from a fixed list, never from the database."""
    return (
        f'<span class="badge {STATUS_CLASSES.get(status, "st-none")}">{_e(status.replace("_", " "))}</span>'
    )


def _short(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _f(x: float) -> str:
    """An SVG coordinate."""
    return f"{x:.1f}"


# ----------------------------------------------------------------------------------------- scales


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude * (1 + 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    n = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 10) for i in range(n + 1)]


def _tick_label(value: float, percent: bool = False) -> str:
    if percent:
        return f"{round(value * 100, 8):g}%"
    return f"{value:g}"


_TIME_STEPS = (60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600)


def time_ticks(start: dt.datetime, end: dt.datetime, most: int = 7) -> list[dt.datetime]:
    """Tick times at a round step (minutes to weeks, UTC-aligned) with at most `most` inside [start, end]."""
    t0, t1 = int(start.timestamp()), int(end.timestamp())
    span = max(t1 - t0, 1)
    step = next((s for s in _TIME_STEPS if span / s <= most), 0)
    if step == 0:
        step = 2592000 * math.ceil(span / most / 2592000)
    first = -(-t0 // step) * step
    return [dt.datetime.fromtimestamp(t, dt.UTC) for t in range(first, t1 + 1, step)]


def _time_label(t: dt.datetime, start: dt.datetime, end: dt.datetime) -> str:
    if end - start > dt.timedelta(days=3):
        return t.strftime("%m-%d") if t.hour == 0 and t.minute == 0 else t.strftime("%m-%d %H:%M")
    if start.date() == (end - dt.timedelta(microseconds=1)).date():
        return t.strftime("%H:%M")
    return t.strftime("%m-%d %H:%M")


def _time_axis_title(start: dt.datetime, end: dt.datetime) -> str:
    if start.date() == (end - dt.timedelta(microseconds=1)).date():
        return f"Event time (UTC), {start:%Y-%m-%d}"
    return "Event time (UTC)"


# ------------------------------------------------------------------------------------------ charts


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
        return (self.start.timestamp() + self.end.timestamp()) / 2


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: tuple[Point, ...]
    band: bool = False  # draw the lower..upper interval as a shaded band


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


@dataclass(frozen=True)
class Frame:
    """The plot area inside an SVG and its linear scales."""

    left: float
    top: float
    right: float
    bottom: float
    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, v: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return self.left + (v - self.x0) / span * (self.right - self.left)

    def y(self, v: float) -> float:
        span = self.y1 - self.y0 or 1.0
        v = min(max(v, self.y0), self.y1)
        return self.bottom - (v - self.y0) / span * (self.bottom - self.top)


def _svg_open(kind: str, title: str, desc: str, width: int, height: int, attrs: Mapping[str, str]) -> str:
    extra = "".join(f' data-{_e(k)}="{_e(v)}"' for k, v in sorted(attrs.items()))
    return (
        f'<svg class="chart" data-chart="{_e(kind)}"{extra} viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" preserveAspectRatio="xMidYMid meet">'
        f"<title>{_e(title)}</title><desc>{_e(desc)}</desc>"
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
                f'<line x1="{_f(cx)}" y1="{_f(cy)}" x2="{_f(cx + 18)}" y2="{_f(cy)}" '
                f'stroke="{colour}" stroke-width="2.5"/>'
            )
        elif swatch == "dash":
            out.append(
                f'<line x1="{_f(cx)}" y1="{_f(cy)}" x2="{_f(cx + 18)}" y2="{_f(cy)}" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="5 3"/>'
            )
        else:
            opacity = ' fill-opacity="0.2"' if swatch == "band" else ""
            out.append(
                f'<rect x="{_f(cx)}" y="{_f(cy - 5)}" width="18" height="10" fill="{colour}"{opacity}/>'
            )
        out.append(f'<text x="{_f(cx + 23)}" y="{_f(cy + 4)}" class="legend-text">{_e(label)}</text>')
        cx += width + 10
    out.append("</g>")
    return "".join(out)


def _y_axis(frame: Frame, ticks: Sequence[float], label: str, percent: bool = False) -> str:
    out = ['<g class="axis y-axis">']
    for t in ticks:
        y = frame.y(t)
        out.append(
            f'<line x1="{_f(frame.left)}" y1="{_f(y)}" x2="{_f(frame.right)}" y2="{_f(y)}" '
            f'stroke="{GRID_COLOUR}"/>'
        )
        out.append(
            f'<text x="{_f(frame.left - 6)}" y="{_f(y + 4)}" text-anchor="end" class="tick">'
            f"{_e(_tick_label(t, percent))}</text>"
        )
    mid = (frame.top + frame.bottom) / 2
    out.append(
        f'<text x="14" y="{_f(mid)}" transform="rotate(-90 14 {_f(mid)})" text-anchor="middle" '
        f'class="axis-title">{_e(label)}</text>'
    )
    out.append(
        f'<line x1="{_f(frame.left)}" y1="{_f(frame.bottom)}" x2="{_f(frame.right)}" '
        f'y2="{_f(frame.bottom)}" stroke="{AXIS_COLOUR}"/>'
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


def time_chart(chart: TimeChart) -> str:
    """A line chart over event time: series with optional interval bands, threshold rules and event markers."""
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
    out = [_svg_open(chart.kind, chart.title, chart.desc, chart.width, chart.height, chart.attrs)]
    out.append(f'<rect x="0" y="0" width="{chart.width}" height="{chart.height}" fill="#ffffff"/>')
    out.append(_y_axis(frame, ticks, chart.y_label))
    # time axis
    out.append('<g class="axis x-axis">')
    for t in time_ticks(chart.start, chart.end):
        x = frame.x(t.timestamp())
        out.append(
            f'<line x1="{_f(x)}" y1="{_f(frame.bottom)}" x2="{_f(x)}" y2="{_f(frame.bottom + 4)}" '
            f'stroke="{AXIS_COLOUR}"/>'
        )
        out.append(
            f'<text x="{_f(x)}" y="{_f(frame.bottom + 17)}" text-anchor="middle" class="tick">'
            f"{_e(_time_label(t, chart.start, chart.end))}</text>"
        )
    out.append(
        f'<text x="{_f((frame.left + frame.right) / 2)}" y="{chart.height - 6}" text-anchor="middle" '
        f'class="axis-title">{_e(_time_axis_title(chart.start, chart.end))}</text></g>'
    )
    # deploys and other events
    for m in chart.markers:
        x = frame.x(m.at.timestamp())
        out.append(
            f'<g class="marker"><title>{_e(m.label)} at {_e(_when(m.at))} UTC</title>'
            f'<line x1="{_f(x)}" y1="{_f(frame.top)}" x2="{_f(x)}" y2="{_f(frame.bottom)}" '
            f'stroke="{AXIS_COLOUR}" stroke-dasharray="2 3"/>'
            f'<text x="{_f(x + 3)}" y="{_f(frame.top + 10)}" class="note">{_e(_short(m.label, 20))}</text>'
            "</g>"
        )
    # interval bands under the lines
    for s in chart.series:
        if not s.band:
            continue
        for run in _segments([p for p in s.points if p.lower is not None and p.upper is not None]):
            upper = [f"{_f(frame.x(p.mid))},{_f(frame.y(p.upper or 0.0))}" for p in run]
            lower = [f"{_f(frame.x(p.mid))},{_f(frame.y(p.lower or 0.0))}" for p in reversed(run)]
            out.append(
                f'<polygon class="band" data-series="{_e(s.name)}" points="{" ".join(upper + lower)}" '
                f'fill="{s.colour}" fill-opacity="0.18" stroke="none"/>'
            )
    # threshold rules
    for r in chart.rules:
        y = frame.y(r.value)
        out.append(
            f'<g class="rule"><line class="threshold" data-kind="{_e(r.kind)}" data-value="{r.value:g}" '
            f'x1="{_f(frame.left)}" y1="{_f(y)}" x2="{_f(frame.right)}" y2="{_f(y)}" stroke="{r.colour}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text x="{_f(frame.right - 4)}" y="{_f(y - 4)}" text-anchor="end" class="note" '
            f'fill="{r.colour}">{_e(r.label)}</text></g>'
        )
    # lines and their markers
    for s in chart.series:
        out.append(f'<g class="series" data-series="{_e(s.name)}">')
        for run in _segments(s.points):
            coords = " ".join(f"{_f(frame.x(p.mid))},{_f(frame.y(p.value or 0.0))}" for p in run)
            out.append(
                f'<polyline class="line" points="{coords}" fill="none" stroke="{s.colour}" '
                'stroke-width="2" stroke-linejoin="round"/>'
            )
        for p in s.points:
            if p.value is None:
                continue
            fill = "#ffffff" if p.hollow else s.colour
            out.append(
                f'<circle class="point" cx="{_f(frame.x(p.mid))}" cy="{_f(frame.y(p.value))}" r="3" '
                f'fill="{fill}" stroke="{s.colour}" stroke-width="1.5"><title>{_e(p.note)}</title></circle>'
            )
        out.append("</g>")
    items: list[tuple[str, str, str]] = [(s.name, s.colour, "line") for s in chart.series]
    items += [(f"{s.name}: 95% interval", s.colour, "band") for s in chart.series if s.band]
    items += [(r.label, r.colour, "dash") for r in chart.rules]
    out.append(_legend(items, frame.left, 14, chart.width - 10))
    out.append("</svg>")
    return "".join(out)


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
                f'<rect class="bar" data-group="{_e(name)}" x="{_f(x0 + j * bar)}" y="{_f(y)}" '
                f'width="{_f(max(bar - 1, 1))}" height="{_f(frame.bottom - y)}" fill="{colour}">'
                f"<title>{_e(full)}: {_e(name)} {_pct(v)}</title></rect>"
            )
        cx, ty = frame.x(i + 0.5), frame.bottom + 14
        if rotate:
            out.append(
                f'<text x="{_f(cx)}" y="{_f(ty)}" text-anchor="end" class="tick" '
                f'transform="rotate(-35 {_f(cx)} {_f(ty)})">{_e(label)}</text>'
            )
        else:
            out.append(
                f'<text x="{_f(cx)}" y="{_f(ty)}" text-anchor="middle" class="tick">{_e(label)}</text>'
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
            f'<line x1="{_f(x)}" y1="{_f(frame.top)}" x2="{_f(x)}" y2="{_f(frame.bottom)}" '
            f'stroke="{stroke}"/>'
        )
        out.append(
            f'<text x="{_f(x)}" y="{_f(frame.bottom + 14)}" text-anchor="middle" class="tick">'
            f"{_tick_label(t, percent=True)}</text>"
        )
    out.append(
        f'<text x="{_f((frame.left + frame.right) / 2)}" y="{height - 4}" text-anchor="middle" '
        'class="axis-title">Error budget remaining over the SLO period</text>'
    )
    for i, (name, remaining) in enumerate(rows):
        y = frame.top + 6 + i * row_h
        shown = min(max(remaining, -1.0), 1.0)
        x0, x1 = sorted((frame.x(0.0), frame.x(shown)))
        colour = OK_COLOUR if remaining > 0.5 else WARN_COLOUR if remaining > 0 else ALERT_COLOUR
        out.append(
            f'<text x="{_f(frame.left - 8)}" y="{_f(y + 13)}" text-anchor="end" class="label">'
            f"{_e(_short(name, 28))}</text>"
        )
        out.append(
            f'<rect class="bar" data-slo="{_e(name)}" x="{_f(x0)}" y="{_f(y)}" '
            f'width="{_f(max(x1 - x0, 1))}" height="18" fill="{colour}">'
            f"<title>{_e(name)}: {_pct(remaining)} of the error budget left</title></rect>"
        )
        clipped = " (beyond the axis)" if shown != remaining else ""
        out.append(
            f'<text x="{width - 8}" y="{_f(y + 13)}" text-anchor="end" class="value">'
            f"{_pct(remaining)}<title>{_pct(remaining)} left{clipped}</title></text>"
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
            f'<line x1="{_f(x)}" y1="1" x2="{_f(x)}" y2="{height - 1}" stroke="{AXIS_COLOUR}" '
            'stroke-dasharray="2 2"/>'
        )
    out.append(
        f'<line x1="{_f(frame.x(lower))}" y1="10" x2="{_f(frame.x(upper))}" y2="10" '
        f'stroke="{REFERENCE_COLOUR}" stroke-width="2"/>'
    )
    out.append(f'<circle cx="{_f(frame.x(value))}" cy="10" r="4" fill="{REFERENCE_COLOUR}"/></svg>')
    return "".join(out)


# ------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DriftObs:
    version: str
    feature: str
    metric: str
    start: dt.datetime
    end: dt.datetime
    value: float | None
    status: str
    n_current: int
    reference_id: int


@dataclass(frozen=True)
class PerfObs:
    version: str
    slice: str
    metric: str
    start: dt.datetime
    end: dt.datetime
    value: float | None
    lower: float | None
    upper: float | None
    support: int
    total: int
    status: str


@dataclass(frozen=True)
class Distribution:
    """Reference vs current shares of one feature in one window, in the reference's bins."""

    feature: str
    kind: str
    labels: tuple[str, ...]  # the binning's own labels, e.g. "(37.0146, 41.674]"
    short_labels: tuple[str, ...]  # for the axis, e.g. "37.0-41.7"
    reference: tuple[float, ...]
    current: tuple[float, ...]
    reference_n: int
    current_n: int
    reference_missing: int
    current_missing: int


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read from the database; rendering is a pure function of it."""

    model: str
    in_spec: bool
    drift: Drift
    features: tuple[str, ...]
    drift_points: tuple[DriftObs, ...]
    perf_points: tuple[PerfObs, ...]
    distributions: tuple[Distribution, ...]
    distribution_window: tuple[str, dt.datetime, dt.datetime] | None  # (version, start, end)
    slos: tuple[tuple[SLO, dict[str, Any]], ...]
    deploys: tuple[tuple[str, dt.datetime], ...]
    now: dt.datetime
    source: str
    windows_left_out: int = 0
    runbook_url: str | None = None

    @property
    def versions(self) -> tuple[str, ...]:
        seen = {p.version for p in self.drift_points} | {p.version for p in self.perf_points}
        return tuple(sorted(seen | {v for v, _ in self.deploys}))

    @property
    def window_starts(self) -> set[dt.datetime]:
        return {p.start for p in self.drift_points} | {p.start for p in self.perf_points}

    @property
    def start(self) -> dt.datetime | None:
        return min(self.window_starts, default=None)

    @property
    def end(self) -> dt.datetime | None:
        return max([p.end for p in self.drift_points] + [p.end for p in self.perf_points], default=None)


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable database URL)"


def _open(database_url: str) -> Engine:
    """An engine on an existing Driftline database; never creates one (a report only reads)."""
    from collector import db

    try:
        url = make_url(database_url)
    except Exception as exc:
        raise ReportError(f"{database_url!r} is not a database URL: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path in ("", ":memory:") or not os.path.exists(path):
            raise ReportError(f"no database at {path or database_url!r}: pass the collector's --database-url")
    engine = db.make_engine(database_url)
    if not inspect(engine).has_table("drift"):
        engine.dispose()
        raise ReportError(f"{_redacted(database_url)} is not a Driftline database (it has no drift table)")
    return engine


def _newest_windows(starts: Iterable[dt.datetime], keep: int) -> tuple[dt.datetime | None, int]:
    """The earliest start among the newest `keep` window starts, and how many older ones fall away."""
    ordered = sorted(set(starts))
    if len(ordered) <= keep:
        return None, 0
    return ordered[-keep], len(ordered) - keep


def _histogram_shares(counts: Sequence[int]) -> tuple[float, ...]:
    n = sum(counts)
    return tuple(c / n if n else 0.0 for c in counts)


def _fold(
    bins: Sequence[tuple[str, str]], ref: Sequence[int], cur: Sequence[int]
) -> tuple[list[tuple[str, str]], list[int], list[int]]:
    """At most MAX_BARS bins (full, short name): those with the largest share on either side, the rest summed."""
    if len(bins) <= MAX_BARS:
        return list(bins), list(ref), list(cur)
    rn, cn = sum(ref) or 1, sum(cur) or 1
    ranked = sorted(range(len(bins)), key=lambda i: (-max(ref[i] / rn, cur[i] / cn), i))
    keep = sorted(ranked[: MAX_BARS - 1])
    rest = [i for i in range(len(bins)) if i not in set(keep)]
    more = f"({len(rest)} more)"
    return (
        [bins[i] for i in keep] + [(more, more)],
        [ref[i] for i in keep] + [sum(ref[i] for i in rest)],
        [cur[i] for i in keep] + [sum(cur[i] for i in rest)],
    )


def _edge_text(edges: Sequence[float]) -> list[str]:
    """Edges with the fewest significant digits (3 to 8) that still tell them all apart."""
    for digits in range(3, 9):
        text = [f"{e:.{digits}g}" for e in edges]
        if len(set(text)) == len(text):
            return text
    return [repr(e) for e in edges]


def axis_labels(binning: Any) -> tuple[str, ...]:
    """Compact bin names for an axis: "≤ 37.2", "37.2-45.1" (en dash), "> 71.3"; categories shortened."""
    if binning.kind != "numeric":
        return tuple(_short(label) for label in binning.labels())
    edges = _edge_text(binning.edges)
    if not edges:
        return ("all",)
    middle = [f"{lo}{DASH}{hi}" for lo, hi in pairwise(edges)]
    return (f"≤ {edges[0]}", *middle, f"> {edges[-1]}")


def _distributions(
    s: Session, model: str, points: Sequence[DriftObs], features: Sequence[str], metric: str, now: dt.datetime
) -> tuple[tuple[Distribution, ...], tuple[str, dt.datetime, dt.datetime] | None]:
    """Reference vs current distributions in the newest complete window that has judged drift."""
    from analyzers.binning import FeatureReference
    from collector import db, repository

    judged = [p for p in points if p.metric == metric and p.status != "insufficient_data"]
    complete = [p for p in judged if p.end <= now]
    pool = complete or judged or [p for p in points if p.metric == metric]
    if not pool:
        return (), None
    start = max(p.start for p in pool)
    in_window = [p for p in pool if p.start == start]
    by_version: dict[str, int] = {}
    for p in in_window:
        by_version[p.version] = max(by_version.get(p.version, 0), p.n_current)
    version = min(by_version, key=lambda v: (-by_version[v], v))
    chosen = {p.feature: p for p in in_window if p.version == version}
    end = max(p.end for p in chosen.values())
    rows = repository.window_records(s, model=model, version=version, start=start, end=end)
    references: dict[int, Any] = {}
    out = []
    for feature in features:
        point = chosen.get(feature)
        if point is None:
            continue
        if point.reference_id not in references:
            references[point.reference_id] = s.get(db.Reference, point.reference_id)
        ref_row = references[point.reference_id]
        if ref_row is None or feature not in (ref_row.features or {}):
            continue
        reference = FeatureReference.from_dict(ref_row.features[feature])
        hist = reference.binning.histogram([r.get(feature) for r in rows])
        names = list(zip(reference.binning.labels(), axis_labels(reference.binning), strict=True))
        bins, ref_counts, cur_counts = _fold(names, reference.counts, hist.counts)
        out.append(
            Distribution(
                feature=feature,
                kind=reference.binning.kind,
                labels=tuple(full for full, _ in bins),
                short_labels=tuple(short for _, short in bins),
                reference=_histogram_shares(ref_counts),
                current=_histogram_shares(cur_counts),
                reference_n=reference.n,
                current_n=hist.n,
                reference_missing=reference.missing,
                current_missing=hist.missing,
            )
        )
    return tuple(out), (version, start, end)


def load(
    database_url: str,
    spec: ResolvedSpec | None,
    model: str,
    *,
    now: dt.datetime | None = None,
    max_windows: int = MAX_WINDOWS,
) -> ReportData:
    """Read what the report shows: the newest `max_windows` windows that started before `now`."""
    from collector import db, repository
    from collector.evaluation import DEFAULT_DRIFT
    from collector.slos import slo_reports

    now = now or db.utcnow()
    now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)  # naive is UTC
    m = spec.model(model) if spec else None
    drift_settings = m.drift if m else DEFAULT_DRIFT
    engine = _open(database_url)
    try:
        sessions = sessionmaker(engine, expire_on_commit=False)
        with sessions() as s:
            drift_rows = [
                DriftObs(
                    p.version,
                    p.feature,
                    p.metric,
                    p.window_start,
                    p.window_end,
                    p.value,
                    p.status,
                    p.n_current,
                    p.reference_id,
                )
                for p in repository.drift_series(s, model=model, limit=10_000_000)
                if p.window_start < now
            ]
            perf_rows: list[PerfObs] = []
            if inspect(engine).has_table("performance"):
                perf_rows = [
                    PerfObs(
                        p.version,
                        p.slice,
                        p.metric,
                        p.window_start,
                        p.window_end,
                        p.value,
                        p.lower,
                        p.upper,
                        p.support,
                        p.total,
                        p.status,
                    )
                    for p in repository.performance_series(s, model=model, limit=10_000_000)
                    if p.window_start < now
                ]
            if m is None and not drift_rows and not perf_rows:
                known = sorted(
                    set(repository.model_names(s)) | ({x.name for x in spec.models} if spec else set())
                )
                raise ReportError(
                    f"model {model!r} has no drift or performance windows in {_redacted(database_url)} and is "
                    f"not in the spec; models known: {', '.join(known) or 'none'}"
                )
            starts = [p.start for p in drift_rows] + [p.start for p in perf_rows]
            cutoff, left_out = _newest_windows(starts, max_windows)
            if cutoff is not None:
                drift_rows = [p for p in drift_rows if p.start >= cutoff]
                perf_rows = [p for p in perf_rows if p.start >= cutoff]
            drift_rows.sort(key=lambda p: (p.feature, p.metric, p.version, p.start))
            perf_rows.sort(key=lambda p: (p.slice, p.metric, p.version, p.start))
            present = {p.feature for p in drift_rows}
            if m is not None:
                features = tuple(f.name for f in m.drift_features if f.name in present)
                features += tuple(sorted(present - set(features)))
            else:
                features = tuple(sorted(present))
            metric = drift_settings.metrics[0]
            distributions, window = _distributions(s, model, drift_rows, features, metric, now)
            deploys: tuple[tuple[str, dt.datetime], ...] = ()
            if inspect(engine).has_table("deploys"):
                deploys = tuple(
                    (d.version, d.first_seen)
                    for d in sorted(
                        repository.deploys(s, model=model), key=lambda d: (d.first_seen, d.version)
                    )
                    if d.first_seen <= now
                )
            slos = tuple(x for x in (spec.slos if spec else ()) if x.model == model)
            reports = slo_reports(s, slos, now) if slos else []
    finally:
        engine.dispose()
    return ReportData(
        model=model,
        in_spec=m is not None,
        drift=drift_settings,
        features=features,
        drift_points=tuple(drift_rows),
        perf_points=tuple(perf_rows),
        distributions=distributions,
        distribution_window=window,
        slos=tuple((r.slo, r.to_dict()) for r in reports),
        deploys=deploys,
        now=now,
        source=_redacted(database_url),
        windows_left_out=left_out,
        runbook_url=m.runbook_url if m else None,
    )


# --------------------------------------------------------------------------------------- sections


def _version_colours(versions: Sequence[str]) -> dict[str, str]:
    return {v: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, v in enumerate(versions)}


def _series_name(version: str, versions: Sequence[str]) -> str:
    return f"version {version}" if len(versions) > 1 else version


def _markers(data: ReportData, start: dt.datetime, end: dt.datetime) -> tuple[Marker, ...]:
    return tuple(Marker(f"deploy {v}", at) for v, at in data.deploys if start <= at <= end)


def _drift_section(data: ReportData) -> str:
    metric, d = data.drift.metrics[0], data.drift
    name = _metric_name(metric)
    head = (
        f'<h2>Drift over time</h2><p class="lead">{_e(name)} of each feature against its reference, per '
        f"{_e(_duration(d.window_seconds))} window of event time. Dashed lines: warn at {d.warn:g}, alert at "
        f"{d.alert:g}. Windows with fewer than {d.min_count} values are not plotted.</p>"
    )
    start, end = data.start, data.end
    points = [p for p in data.drift_points if p.metric == metric]
    if start is None or end is None or not points:
        empty = f"No drift windows stored before {_e(_when(data.now))} UTC."
        return f'<section id="drift">{head}<p class="empty">{empty}</p></section>'
    versions = sorted({p.version for p in points})
    colours = _version_colours(versions)
    figures = []
    for feature in data.features:
        mine = [p for p in points if p.feature == feature]
        series = []
        for v in versions:
            pts = tuple(
                Point(
                    p.start,
                    p.end,
                    p.value if p.status != "insufficient_data" else None,
                    note=f"{_span(p.start, p.end)}: {name} {_num(p.value)} ({p.status.replace('_', ' ')}), "
                    f"{p.n_current} values" + (f", version {v}" if len(versions) > 1 else ""),
                )
                for p in mine
                if p.version == v
            )
            if pts:
                series.append(Series(_series_name(v, versions), colours[v], pts))
        judged = [p for p in mine if p.status != "insufficient_data" and p.value is not None]
        over = [p for p in judged if p.status == "alert"]
        newest = max(judged, key=lambda p: (p.start, p.version), default=None)
        desc = (
            f"{name} of {feature} in {len(judged)} windows from {_when(start)} to {_when(end)} UTC; "
            f"{len(over)} over the alert threshold {d.alert:g}"
            + (f", first at {_when(min(p.start for p in over))} UTC" if over else "")
            + (f"; newest {_num(newest.value)} ({newest.status})" if newest else "")
            + "."
        )
        chart = TimeChart(
            kind="drift",
            title=f"{name} of {feature} over time",
            desc=desc,
            y_label=name,
            start=start,
            end=end,
            series=tuple(series),
            rules=(
                Rule(f"warn {d.warn:g}", d.warn, WARN_COLOUR, "warn"),
                Rule(f"alert {d.alert:g}", d.alert, ALERT_COLOUR, "alert"),
            ),
            markers=_markers(data, start, end),
            zero_based=True,
            attrs={"feature": feature},
        )
        badge = _status(newest.status) if newest else ""
        figures.append(
            f"<figure><h3>{_e(feature)} {badge}</h3>{time_chart(chart)}"
            f"<figcaption>{_e(desc)}</figcaption></figure>"
        )
    return f'<section id="drift">{head}<div class="grid">{"".join(figures)}</div></section>'


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n}-{unit}" if n != 1 else unit.replace("minute", "1-minute")
    return f"{seconds}-second"


def _distribution_section(data: ReportData) -> str:
    head = "<h2>Distributions: reference vs current</h2>"
    if data.distribution_window is None or not data.distributions:
        return f'<section id="distributions">{head}<p class="empty">No window with drift to compare yet.</p></section>'
    version, start, end = data.distribution_window
    metrics = sorted({p.metric for p in data.drift_points}, key=lambda x: (x != data.drift.metrics[0], x))
    lead = (
        f'<p class="lead">Share of values per reference bin in the newest complete window, {_e(_span(start, end))}'
        f" (version {_e(version)}), against the reference the drift was measured with.</p>"
    )
    window_points = {
        (p.feature, p.metric): p for p in data.drift_points if p.start == start and p.version == version
    }
    figures = []
    for dist in data.distributions:
        first = window_points.get((dist.feature, data.drift.metrics[0]))
        score = f"{_metric_name(first.metric)} {_num(first.value)}" if first else ""
        desc = (
            f"{dist.feature}: {len(dist.labels)} bins; reference n={dist.reference_n}, current n={dist.current_n}"
            f"; largest share change {_largest_change(dist)}"
            + (f"; {score} ({first.status})" if first else "")
            + "."
        )
        chart = BarChart(
            kind="distribution",
            title=f"Distribution of {dist.feature}: reference vs current",
            desc=desc,
            y_label="Share of values",
            labels=dist.short_labels,
            full_labels=dist.labels,
            groups=(
                ("reference", REFERENCE_COLOUR, dist.reference),
                ("current", CURRENT_COLOUR, dist.current),
            ),
            attrs={"feature": dist.feature},
        )
        missing = (
            f"Missing values: reference {_pct(_share(dist.reference_missing, dist.reference_n))}, current "
            f"{_pct(_share(dist.current_missing, dist.current_n))}."
        )
        badge = _status(first.status) if first else ""
        figures.append(
            f"<figure><h3>{_e(dist.feature)} {badge}</h3>{bar_chart(chart)}"
            f"<figcaption>{_e(desc)} {_e(missing)}</figcaption></figure>"
        )
    # the newest window's every metric, one row per feature
    cells = "".join(f'<th scope="col">{_e(_metric_name(x))}</th>' for x in metrics)
    rows = []
    for feature in data.features:
        pts = [window_points.get((feature, x)) for x in metrics]
        first = window_points.get((feature, data.drift.metrics[0]))
        if first is None:
            continue
        values = "".join(f'<td class="num">{_num(p.value if p else None)}</td>' for p in pts)
        rows.append(
            f'<tr><th scope="row">{_e(feature)}</th>{values}<td>{_status(first.status)}</td>'
            f'<td class="num">{first.n_current}</td></tr>'
        )
    table = (
        f'<table class="data" data-table="drift"><caption>Drift in {_e(_span(start, end))}, every metric '
        f"(the status is judged on {_e(_metric_name(data.drift.metrics[0]))})</caption>"
        f'<thead><tr><th scope="col">Feature</th>{cells}<th scope="col">Status</th>'
        f'<th scope="col">Values</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    return (
        f'<section id="distributions">{head}{lead}<div class="grid">{"".join(figures)}</div>{table}</section>'
    )


def _share(part: int, whole: int) -> float | None:
    return part / (part + whole) if part + whole else None


def _largest_change(dist: Distribution) -> str:
    if not dist.labels:
        return "none"
    i = max(range(len(dist.labels)), key=lambda k: (abs(dist.current[k] - dist.reference[k]), -k))
    return f"{dist.labels[i]} {_pct(dist.reference[i])} → {_pct(dist.current[i])}"


def _perf_metric(points: Sequence[PerfObs]) -> str | None:
    """The headline metric: accuracy for classifiers, MAE for regressors, else the most frequent one."""
    counts: dict[str, int] = {}
    for p in points:
        counts[p.metric] = counts.get(p.metric, 0) + 1
    for headline in ("accuracy", "mae"):
        if headline in counts:
            return headline
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None


def _accuracy_target(data: ReportData, metric: str) -> float | None:
    if metric != "accuracy":
        return None
    targets = sorted({s.target for s, _ in data.slos if s.sli == "accuracy" and s.target is not None})
    return targets[0] if targets else None


def _slice_window(points: Sequence[PerfObs], now: dt.datetime) -> tuple[dt.datetime, str] | None:
    """The newest complete window whose labels matured (else the newest complete, else the newest)."""
    overall = [p for p in points if p.slice == "all"]
    for how, pool in (
        ("matured", [p for p in overall if p.end <= now and p.status == "ok"]),
        ("complete", [p for p in overall if p.end <= now]),
        ("newest", overall or list(points)),
    ):
        if pool:
            return max(p.start for p in pool), how
    return None


def _performance_section(data: ReportData) -> str:
    head = "<h2>Performance</h2>"
    metric = _perf_metric(data.perf_points)
    start, end = data.start, data.end
    if metric is None or start is None or end is None:
        return (
            f'<section id="performance">{head}<p class="empty">No labelled windows yet: performance needs '
            "ground truth (log_labels or replay --label-column).</p></section>"
        )
    name = _metric_name(metric)
    overall = [p for p in data.perf_points if p.slice == "all" and p.metric == metric]
    versions = sorted({p.version for p in overall})
    colours = _version_colours(versions)
    series = []
    for v in versions:
        pts = tuple(
            Point(
                p.start,
                p.end,
                p.value if p.status != "insufficient_data" else None,
                p.lower,
                p.upper,
                note=f"{_span(p.start, p.end)}: {name} {_num(p.value)} [{_num(p.lower)}, {_num(p.upper)}], "
                f"{p.support} of {p.total} labelled ({p.status.replace('_', ' ')})",
                hollow=p.status != "ok",
            )
            for p in overall
            if p.version == v
        )
        series.append(Series(_series_name(v, versions), colours[v], pts, band=True))
    target = _accuracy_target(data, metric)
    rules = (Rule(f"SLO target {target:g}", target, ALERT_COLOUR, "target"),) if target is not None else ()
    shown = [p for p in overall if p.value is not None and p.status != "insufficient_data"]
    low = min(shown, key=lambda p: (p.value or 0.0, p.start), default=None)
    desc = (
        f"Realized {name.lower()} of all predictions in {len(shown)} windows from {_when(start)} to "
        f"{_when(end)} UTC, with 95% intervals"
        + (f"; lowest {_num(low.value)} at {_when(low.start)} UTC" if low else "")
        + (f"; SLO target {target:g}" if target is not None else "")
        + ". Hollow points: labels not matured."
    )
    chart = TimeChart(
        kind="performance",
        title=f"{name} per window",
        desc=desc,
        y_label=name,
        start=start,
        end=end,
        series=tuple(series),
        rules=rules,
        markers=_markers(data, start, end),
        zero_based=metric != "accuracy",
        width=900,
        height=300,
        y_cap=1.0 if metric == "accuracy" else None,
    )
    figure = (
        f'<figure class="wide"><h3>{_e(name)} over time</h3>{time_chart(chart)}'
        f"<figcaption>{_e(desc)}</figcaption></figure>"
    )
    return f'<section id="performance">{head}{figure}{_slice_table(data, metric)}</section>'


def _slice_table(data: ReportData, metric: str) -> str:
    points = [p for p in data.perf_points if p.metric == metric]
    chosen = _slice_window(points, data.now)
    if chosen is None:
        return ""
    start, how = chosen
    rows_in = sorted(
        (p for p in points if p.start == start),
        key=lambda p: (p.slice != "all", p.slice, p.version),
    )
    versions = sorted({p.version for p in rows_in})
    overall = {p.version: p for p in rows_in if p.slice == "all"}
    bounds = [v for p in rows_in for v in (p.lower, p.upper, p.value) if v is not None]
    lo, hi = (min(bounds), max(bounds)) if bounds else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    end = rows_in[0].end if rows_in else start
    rows = []
    for p in rows_in:
        base = overall.get(p.version)
        versus = DASH
        if base is not None and p is not base and None not in (p.upper, p.lower, base.upper, base.lower):
            if (p.upper or 0.0) < (base.lower or 0.0):
                versus = "lower ▼"
            elif (p.lower or 0.0) > (base.upper or 0.0):
                versus = "higher ▲"
        strip = ""
        if p.value is not None and p.lower is not None and p.upper is not None:
            title = f"{p.slice}: {metric} {_num(p.value)}, 95% interval {_num(p.lower)}{DASH}{_num(p.upper)}"
            strip = interval_strip(
                p.value,
                p.lower,
                p.upper,
                lo,
                hi,
                base.value if base is not None and p is not base else None,
                title,
            )
        version_cell = f"<td>{_e(p.version)}</td>" if len(versions) > 1 else ""
        coverage = f" ({_pct(p.support / p.total, 0)})" if p.total else ""
        rows.append(
            f'<tr data-slice="{_e(p.slice)}"><th scope="row">{_e(p.slice)}</th>{version_cell}'
            f'<td class="num">{_num(p.value)}</td><td class="num">[{_num(p.lower)}, {_num(p.upper)}]</td>'
            f'<td class="strip">{strip}</td><td class="num">{p.support} / {p.total}{coverage}</td>'
            f"<td>{_status(p.status)}</td><td>{versus}</td></tr>"
        )
    version_head = '<th scope="col">Version</th>' if len(versions) > 1 else ""
    which = {
        "matured": "newest complete window with matured labels",
        "complete": "newest complete window (labels not matured yet)",
    }.get(how, "newest window (not complete yet)")
    return (
        f'<table class="data" data-table="slices"><caption>{_e(_metric_name(metric))} per slice, {which}: '
        f"{_e(_span(start, end))}. Intervals are 95%; “vs. all” marks a slice whose interval lies wholly "
        "outside the overall one.</caption>"
        f'<thead><tr><th scope="col">Slice</th>{version_head}<th scope="col">Value</th>'
        f'<th scope="col">95% interval</th><th scope="col">Interval plot</th><th scope="col">Labelled / records</th>'
        f'<th scope="col">Status</th><th scope="col">vs. all</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _slo_section(data: ReportData) -> str:
    head = "<h2>SLOs: error budgets and burn rates</h2>"
    if not data.slos:
        return f'<section id="slos">{head}<p class="empty">No SLOs for this model in the spec.</p></section>'
    computed = [(s, r) for s, r in data.slos if r.get("remaining") is not None and _period_events(r)]
    chart = ""
    if computed:
        desc = "; ".join(f"{s.name}: {_pct(r['remaining'])} left" for s, r in computed) + "."
        bars = [(s.name, float(r["remaining"])) for s, r in computed]
        svg = budget_chart(bars, "Error budget remaining per SLO", desc)
        chart = (
            f'<figure class="half"><h3>Error budget remaining at {_e(_when(data.now))} UTC</h3>{svg}'
            f"<figcaption>{_e(desc)}</figcaption></figure>"
        )
    rows = []
    for s, r in data.slos:
        objective = f"{s.objective:g}% over {_e(r.get('period', ''))}"
        if r.get("remaining") is None:
            rows.append(
                f'<tr data-slo="{_e(s.name)}"><th scope="row">{_e(s.name)}</th><td>{_e(s.sli)}</td>'
                f'<td>{objective}</td><td colspan="5">{_e(s.budgeting)}: judged by Prometheus from the '
                "exported gauges, not stored in the database</td></tr>"
            )
            continue
        events = _period_events(r)
        if not events:
            rows.append(
                f'<tr data-slo="{_e(s.name)}"><th scope="row">{_e(s.name)}</th><td>{_e(s.sli)}</td>'
                f'<td>{objective}</td><td colspan="5">no events in the last {_e(r.get("period", ""))}: '
                "nothing to spend the budget on yet</td></tr>"
            )
            continue
        burns = " · ".join(f"{_e(w)} {_num(b, 2)}" for w, b in (r.get("burn_rates") or {}).items())
        tte = r.get("time_to_exhaustion_seconds")
        firing = ", ".join(
            f"{_e(f['severity'])} ({_e(f['long_window'])}/{_e(f['short_window'])} {TIMES}{f['factor']:g})"
            for f in r.get("firing", ())
        )
        rows.append(
            f'<tr data-slo="{_e(s.name)}"><th scope="row">{_e(s.name)}</th><td>{_e(s.sli)}</td>'
            f'<td>{objective}</td><td class="num">{_pct(r["remaining"])}</td>'
            f'<td class="num">{_pct(r.get("error_ratio"), 3)} of {events:,.0f}</td><td>{burns}</td>'
            f"<td>{_e(_eta(tte))}</td><td>{firing or 'none'}</td></tr>"
        )
    table = (
        '<table class="data" data-table="slos"><caption>Burn rate 1 spends the budget exactly over the period; '
        "the multi-window alerts fire when both of their windows burn faster than their factor.</caption>"
        '<thead><tr><th scope="col">SLO</th><th scope="col">SLI</th><th scope="col">Objective</th>'
        '<th scope="col">Budget left</th><th scope="col">Error ratio (of events)</th>'
        '<th scope="col">Burn rate per window</th><th scope="col">Budget gone in</th>'
        f'<th scope="col">Alerts firing</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    return f'<section id="slos">{head}{chart}{table}</section>'


def _period_events(report: Mapping[str, Any]) -> float:
    """Events the SLO counted over its whole period (0 when nothing was measured yet)."""
    return float((report.get("events") or {}).get(report.get("period", ""), 0.0) or 0.0)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "not burning"
    if seconds <= 0:
        return "spent"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _summary(data: ReportData) -> str:
    items = []
    metric = data.drift.metrics[0]
    if data.distribution_window is not None:
        version, start, end = data.distribution_window
        newest = [
            p for p in data.drift_points if p.metric == metric and p.start == start and p.version == version
        ]
        alerting = sorted(
            (p for p in newest if p.status == "alert"), key=lambda p: (-(p.value or 0.0), p.feature)
        )
        if alerting:
            names = ", ".join(f"{p.feature} ({_num(p.value)})" for p in alerting)
            items.append(
                f"<li>{_status('alert')} Drift: {len(alerting)} of {len(newest)} features over the alert "
                f"threshold in {_e(_span(start, end))}: {_e(names)}.</li>"
            )
        else:
            items.append(
                f"<li>{_status('ok')} Drift: no feature over the alert threshold in the newest complete "
                "window.</li>"
            )
        first = min(
            (p.start for p in data.drift_points if p.metric == metric and p.status == "alert"), default=None
        )
        if first is not None:
            items.append(f"<li>First window over the alert threshold: {_e(_when(first))} UTC.</li>")
    perf_metric = _perf_metric(data.perf_points)
    if perf_metric is not None:
        chosen = _slice_window([p for p in data.perf_points if p.metric == perf_metric], data.now)
        overall = [
            p
            for p in data.perf_points
            if p.slice == "all" and p.metric == perf_metric and chosen is not None and p.start == chosen[0]
        ]
        for p in overall:
            items.append(
                f"<li>{_e(_metric_name(perf_metric))} in {_e(_span(p.start, p.end))}: {_num(p.value)} "
                f"[{_num(p.lower)}, {_num(p.upper)}] on {p.support} labels ({_e(p.version)}).</li>"
            )
    for s, r in data.slos:
        if r.get("remaining") is None or not _period_events(r):
            continue
        firing = r.get("firing") or []
        badge = _status("alert" if firing else "warn" if r["remaining"] <= 0.5 else "ok")
        severities = sorted({str(f["severity"]) for f in firing}, key=lambda x: (x != "page", x))
        alert = f"; firing: {_e(', '.join(severities))}" if firing else ""
        items.append(
            f"<li>{badge} {_e(s.name)}: {_pct(r['remaining'])} of the error budget left{alert}.</li>"
        )
    if not items:
        items.append("<li>No data yet.</li>")
    return f'<section id="summary"><h2>At a glance</h2><ul>{"".join(items)}</ul></section>'


def _header(data: ReportData) -> str:
    start, end = data.start, data.end
    span = f"{_when(start)} to {_when(end)} UTC" if start and end else "no windows yet"
    windows = len(data.window_starts)
    left_out = f" (the {data.windows_left_out} older windows are left out)" if data.windows_left_out else ""
    versions = ", ".join(_e(v) for v in data.versions) or "none seen"
    deploys = "; ".join(f"{_e(v)} first seen {_e(_when(at))} UTC" for v, at in data.deploys)
    runbook = ""
    if data.runbook_url and data.runbook_url.startswith(("https://", "http://")):
        runbook = f'<dt>Runbook</dt><dd><a href="{_e(data.runbook_url)}">{_e(data.runbook_url)}</a></dd>'
    d = data.drift
    settings = (
        f"{_e(', '.join(_metric_name(x) for x in d.metrics))} per {_e(_duration(d.window_seconds))} window; "
        f"warn {d.warn:g}, alert {d.alert:g}"
        + ("" if data.in_spec else " (defaults: the model is not in the spec)")
    )
    return (
        f'<header><p class="kicker">Driftline model report</p><h1>{_e(data.model)}</h1><dl class="meta">'
        f"<dt>Versions</dt><dd>{versions}</dd>"
        + (f"<dt>Deploys</dt><dd>{deploys}</dd>" if deploys else "")
        + f"<dt>Time range</dt><dd>{_e(span)}, {windows} windows{_e(left_out)}</dd>"
        f"<dt>Generated</dt><dd>{_e(_when(data.now))} UTC (figures as of this time)</dd>"
        f"<dt>Drift</dt><dd>{settings}</dd>{runbook}"
        f"<dt>Source</dt><dd><code>{_e(data.source)}</code></dd></dl></header>"
    )


STYLE = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 0 auto; max-width: 1360px;
  padding: 16px 24px 40px; color: #1d232b; background: #f6f7f9; font-size: 14px; line-height: 1.45; }
header { background: #1d2a3a; color: #fff; padding: 14px 20px; border-radius: 6px; }
header h1 { margin: 0 0 6px; font-size: 26px; }
.kicker { margin: 0; text-transform: uppercase; letter-spacing: .08em; font-size: 11px; color: #b9c4d0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; font-size: 13px; }
dl.meta dt { color: #b9c4d0; } dl.meta dd { margin: 0; } header a { color: #9fd3ff; }
code { font-size: 12px; }
section { margin-top: 18px; }
h2 { font-size: 19px; margin: 0 0 4px; border-bottom: 2px solid #d9dde3; padding-bottom: 3px; }
h3 { font-size: 15px; margin: 0 0 4px; }
p.lead { margin: 4px 0 10px; color: #3d4653; } p.empty { color: #6b7480; font-style: italic; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
figure { margin: 0; background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 10px 12px;
  break-inside: avoid; }
figure.wide { max-width: 940px; margin-bottom: 12px; } figure.half { max-width: 680px; margin-bottom: 12px; }
figcaption { font-size: 12px; color: #505966; margin-top: 4px; }
svg.chart { display: block; height: auto; }
svg .tick { font-size: 11px; fill: #4a5361; } svg .axis-title { font-size: 12px; fill: #2f3742; }
svg .legend-text { font-size: 11.5px; fill: #2f3742; } svg .note { font-size: 10.5px; fill: #4a5361; }
svg .label { font-size: 12px; fill: #1d232b; } svg .value { font-size: 12px; fill: #1d232b; font-weight: bold; }
td.strip svg.chart { width: 160px; }
table.data { border-collapse: collapse; background: #fff; margin: 10px 0; font-size: 13px; min-width: 60%; }
table.data caption { text-align: left; font-size: 12.5px; color: #505966; padding: 4px 0; caption-side: top; }
table.data th, table.data td { border: 1px solid #dde1e6; padding: 4px 8px; text-align: left; vertical-align: middle; }
table.data thead th { background: #eef1f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 11.5px; font-weight: bold;
  vertical-align: middle; }
.st-ok { background: #d6f0e6; color: #035c40; } .st-warn { background: #fbeccb; color: #6e5200; }
.st-alert { background: #fbd9c9; color: #8a2f00; } .st-none { background: #e6e8eb; color: #4a5361; }
#summary ul { margin: 6px 0; padding-left: 20px; } #summary li { margin: 2px 0; }
footer { margin-top: 24px; font-size: 12px; color: #6b7480; }
@media print { body { background: #fff; max-width: none; } figure, table { break-inside: avoid; } }
"""


def render(data: ReportData) -> str:
    """The HTML page of `data`: well-formed (it also parses as XML once the doctype is removed)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"/>'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        '<meta name="generator" content="driftline report"/>'
        f"<title>Driftline report: {_e(data.model)} at {_e(_when(data.now))} UTC</title>"
        f"<style>{STYLE}</style></head><body>"
        f"{_header(data)}<main>{_summary(data)}{_drift_section(data)}{_distribution_section(data)}"
        f"{_performance_section(data)}{_slo_section(data)}</main>"
        f"<footer>Generated by <code>driftline report</code> from {_e(data.source)}. Self-contained: no scripts, "
        "no network requests. Times are event times in UTC; windows are half-open [start, end).</footer>"
        "</body></html>\n"
    )


# ------------------------------------------------------------------------------------------- entry


def build_report(
    database_url: str,
    spec: ResolvedSpec | None,
    model: str,
    *,
    now: dt.datetime | None = None,
    max_windows: int = MAX_WINDOWS,
) -> str:
    """The self-contained HTML report of `model` as of `now` (default: the current time)."""
    return render(load(database_url, spec, model, now=now, max_windows=max_windows))


def write_report(
    database_url: str,
    spec: ResolvedSpec | None,
    model: str,
    out: str | Path,
    *,
    now: dt.datetime | None = None,
    max_windows: int = MAX_WINDOWS,
) -> Path:
    """Write the report to `out` (parents created, replaced atomically) and return its path."""
    path = Path(out)
    text = build_report(database_url, spec, model, now=now, max_windows=max_windows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
