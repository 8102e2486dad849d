"""Server-side SVG charts: valid, small, accessible, escaped; coloured by the band they are given."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

from django.utils import translation

from fieldteam.dashboards import charts
from fieldteam.formatting import fmt, fmt_short, period_label
from fieldteam.periods import Period

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))  # noqa: S314 - our own markup


def test_target_bar_marks_each_target():
    marks = [charts.TargetMark(2025, Decimal(80), False), charts.TargetMark(2030, Decimal(95), False)]
    with translation.override("vi"):
        svg = charts.target_bar(value=Decimal("62.5"), targets=marks, band="far")

    root = parse(svg)
    assert root.get("role") == "img"
    assert "62,5%" in root.get("aria-label")  # Vietnamese decimal comma
    assert [line.get("x1") for line in root.iter(f"{SVG}line")] == ["238.8", "283.2"]  # 2 + share × 296
    assert [t.text for t in root.iter(f"{SVG}text")] == ["2025", "2030"]
    bar = next(r for r in root.iter(f"{SVG}rect") if "bar" in (r.get("class") or ""))
    assert bar.get("class") == "bar t-far"
    assert len(str(svg)) < 1200


def test_trend_breaks_at_months_without_a_value_and_marks_the_live_month():
    months = [dt.date(2026, m, 1) for m in range(1, 7)]
    values = [Decimal(10), Decimal(20), None, Decimal(30), Decimal(35), Decimal(40)]
    points = [charts.TrendPoint(m, v, is_live=m.month == 6) for m, v in zip(months, values, strict=True)]

    root = parse(charts.trend_chart(points=points, targets=[charts.TargetMark(2030, Decimal(95), False)]))

    lines = list(root.iter(f"{SVG}polyline"))
    assert [len(line.get("points").split()) for line in lines] == [2, 3]
    dots = list(root.iter(f"{SVG}circle"))
    assert len(dots) == 5
    assert dots[-1].get("class") == "dot live"
    assert any("2030: 95" in (t.text or "") for t in root.iter(f"{SVG}text"))


def test_text_in_charts_is_escaped():
    svg = charts.week_bars(weeks=[dt.date(2026, 6, 1)], counts=[3])
    root = parse(svg)
    assert root.find(f"{SVG}title").text.endswith("3")
    # A label with markup in it (a translation, say) cannot break out of the SVG.
    with translation.override("en"):
        escaped = charts._svg(10, 10, '<script>alert("x")</script>', [], "x")
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped


def test_formats():
    with translation.override("vi"):
        assert fmt(Decimal("45.25")) == "45,3"  # half up, not half even
        assert fmt(None) == "–"
        assert fmt_short(Decimal("95.00")) == "95"
        assert fmt_short(Decimal("96.52")) == "96,5"
    with translation.override("en"):
        assert period_label(Period.parse("2026-03")) == "Month 03/2026"
        assert period_label(Period.parse("2026-Q1")) == "Quarter 1/2026"
        assert period_label(Period.parse("2026")) == "Year 2026"
