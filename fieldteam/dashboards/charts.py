"""Charts drawn on the server as inline SVG: no JavaScript, no chart library, nothing from a CDN.

Each function returns a small ``<svg>`` (a few hundred bytes to a few KB) that scales to the width
of its container (``viewBox`` and ``width: 100%`` in the stylesheet), with a ``<title>`` and an
``aria-label`` that say in words what it shows. Colours come from CSS classes (``dashboard.css``),
so the markup stays short and the page's colour legend and the charts agree. Every text in a
chart is escaped; numbers are formatted for the active language (``45,2`` in Vietnamese).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from fieldteam.formatting import fmt, fmt_short


def _n(x: float) -> str:
    """A coordinate, short: one decimal at most."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _svg(width: int, height: int, label: str, body: list[str], css: str) -> SafeString:
    label = escape(label)
    markup = (
        f'<svg class="chart {css}" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{label}</title>{"".join(body)}</svg>'
    )
    # Every dynamic text above went through escape(); coordinates are numbers we computed.
    return mark_safe(markup)  # noqa: S308


@dataclass(frozen=True)
class TargetMark:
    year: int
    value: Decimal
    met: bool


def scale_max(values: Sequence[Decimal | None], unit: str) -> Decimal:
    """The top of a chart's value axis: 100 for percentages, else a little above the largest value."""
    present = [v for v in values if v is not None]
    if unit == "%":
        return max([Decimal(100), *present])
    return max([*present, Decimal(1)]) * Decimal("1.1")


def target_bar(
    *, value: Decimal | None, targets: Sequence[TargetMark], band: str, unit: str = "%", measure: str = ""
) -> SafeString:
    """A horizontal bar of ``value`` with a marker and the year at each target.

    ``measure`` says in the label what the value is over ("theo dân số chính thức", issue 15).
    """
    width, left, right = 300, 2, 298
    top = max(scale_max([value, *[t.value for t in targets]], unit), Decimal(1))

    def x(v: Decimal) -> float:
        return left + float(v / top) * (right - left)

    body = [f'<rect class="track" x="{left}" y="14" width="{right - left}" height="12" rx="3"/>']
    if value is not None:
        body.append(f'<rect class="bar t-{band}" x="{left}" y="14" width="{_n(x(value) - left)}" height="12" rx="3"/>')
    last_label_x: float | None = None
    for mark in sorted(targets, key=lambda t: t.value):
        mx = x(mark.value)
        body.append(f'<line class="target" x1="{_n(mx)}" y1="9" x2="{_n(mx)}" y2="31"/>')
        anchor = "end" if mx > right - 14 else ("start" if mx < left + 14 else "middle")
        # Labels of targets too close to the previous one go below the bar.
        below = last_label_x is not None and abs(mx - last_label_x) < 30
        label_y = 40 if below else 7
        body.append(f'<text x="{_n(mx)}" y="{label_y}" text-anchor="{anchor}" class="tl">{mark.year}</text>')
        if not below:
            last_label_x = mx
    label = _("No value yet") if value is None else _("Value %(value)s%(unit)s") % {"value": fmt(value), "unit": unit}
    if measure and value is not None:
        label += f" ({measure})"
    for mark in targets:
        label += "; " + _("target %(year)s: %(value)s%(unit)s") % {
            "year": mark.year,
            "value": fmt(mark.value),
            "unit": unit,
        }
    return _svg(width, 42, label, body, "bar-chart")


@dataclass(frozen=True)
class TrendPoint:
    month: date
    value: Decimal | None
    is_live: bool = False


@dataclass(frozen=True)
class _Frame:
    """The plot area of a chart and its value scale."""

    left: float
    right: float
    top_y: float
    bottom_y: float
    top: Decimal
    count: int

    def x(self, i: int) -> float:
        return self.left + (self.right - self.left) * (i / (self.count - 1) if self.count > 1 else 0.5)

    def y(self, v: Decimal) -> float:
        return self.bottom_y - float(v / self.top) * (self.bottom_y - self.top_y)


def _polylines(frame: _Frame, points: Sequence[TrendPoint]) -> list[str]:
    """One polyline per run of consecutive months with a value (a month without one breaks the line)."""
    runs: list[list[str]] = [[]]
    for i, point in enumerate(points):
        if point.value is None:
            runs.append([])
        else:
            runs[-1].append(f"{_n(frame.x(i))},{_n(frame.y(point.value))}")
    return [f'<polyline class="line" points="{" ".join(run)}"/>' for run in runs if len(run) > 1]


def trend_chart(
    *, points: Sequence[TrendPoint], targets: Sequence[TargetMark], unit: str = "%", measure: str = ""
) -> SafeString:
    """Monthly values as a line (gaps where a month has no value), the targets as dashed lines.

    ``measure`` says in the label what the values are over, as for ``target_bar``.
    """
    width, height = 320, 124
    frame = _Frame(
        30, 300, 10, 98, scale_max([p.value for p in points] + [t.value for t in targets], unit), max(len(points), 1)
    )
    body: list[str] = []
    for tick in (Decimal(0), frame.top / 2, frame.top):
        ty = _n(frame.y(tick))
        body.append(f'<line class="grid" x1="{frame.left}" y1="{ty}" x2="{frame.right}" y2="{ty}"/>')
        body.append(
            f'<text x="{frame.left - 3}" y="{_n(frame.y(tick) + 3)}" text-anchor="end" class="tl">{escape(fmt(tick, 0))}</text>'
        )
    for mark in targets:
        target_y = frame.y(mark.value)
        body.append(f'<line class="target dashed" x1="{frame.left}" y1="{_n(target_y)}" x2="{frame.right}" y2="{_n(target_y)}"/>')
        body.append(
            f'<text x="{frame.right}" y="{_n(target_y - 2)}" text-anchor="end" class="tl">{mark.year}: {escape(fmt_short(mark.value))}</text>'
        )
    body += _polylines(frame, points)
    step = max(1, round(frame.count / 6))
    for i, point in enumerate(points):
        if point.value is not None:
            css = "dot live" if point.is_live else "dot"
            body.append(f'<circle class="{css}" cx="{_n(frame.x(i))}" cy="{_n(frame.y(point.value))}" r="2.6"/>')
        if (frame.count - 1 - i) % step == 0:
            body.append(
                f'<text x="{_n(frame.x(i))}" y="{height - 12}" text-anchor="middle" class="tl">'
                f"{escape(date_format(point.month, 'm/y'))}</text>"
            )
    known = [p for p in points if p.value is not None]
    label = _("No monthly values yet")
    if known:
        label = _("Monthly values from %(first)s to %(last)s: %(values)s") % {
            "first": date_format(points[0].month, "m/Y"),
            "last": date_format(points[-1].month, "m/Y"),
            "values": ", ".join(f"{date_format(p.month, 'm/Y')} {fmt(p.value)}{unit}" for p in known),
        }
        if measure:
            label += f" ({measure})"
    return _svg(width, height, label, body, "trend-chart")


def week_bars(*, weeks: Sequence[date], counts: Sequence[int]) -> SafeString:
    """Assistance logs per week as columns, the week's Monday under every few columns."""
    width, height = 320, 110
    left, right, top_y, bottom_y = 4, 316, 14, 88
    count = max(len(weeks), 1)
    slot = (right - left) / count
    top = max([*counts, 1])
    body = [f'<line class="grid" x1="{left}" y1="{bottom_y}" x2="{right}" y2="{bottom_y}"/>']
    step = max(1, round(count / 6))
    for i, (week, n) in enumerate(zip(weeks, counts, strict=True)):
        h = (bottom_y - top_y) * n / top
        bx = left + i * slot + slot * 0.15
        body.append(
            f'<rect class="col" x="{_n(bx)}" y="{_n(bottom_y - h)}" width="{_n(slot * 0.7)}" height="{_n(h)}"/>'
        )
        if n and count <= 16:
            body.append(
                f'<text x="{_n(bx + slot * 0.35)}" y="{_n(bottom_y - h - 3)}" text-anchor="middle" class="tl">{n}</text>'
            )
        if i % step == 0:
            body.append(
                f'<text x="{_n(bx + slot * 0.35)}" y="{height - 8}" text-anchor="middle" class="tl">'
                f"{escape(date_format(week, 'd/m'))}</text>"
            )
    label = _("Assistance logs per week: %(weeks)s") % {
        "weeks": ", ".join(f"{date_format(w, 'd/m')} {n}" for w, n in zip(weeks, counts, strict=True)),
    }
    return _svg(width, height, label, body, "week-chart")
