"""SVG charts for the PDF: valid XML, one mark per value, labels shown, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pulse.reports.charts import chart_svg
from pulse.reports.engine import ChartData

NS = {"svg": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def _marks(root, cls: str) -> list:
    return [el for el in root.iter() if el.get("class") == cls]


def _texts(root) -> list[str]:
    return [el.text for el in root.iter("{http://www.w3.org/2000/svg}text") if el.text]


def test_bar_chart_draws_one_bar_per_value_with_labels_and_ticks():
    chart = ChartData(
        type="bar",
        labels=["Qualified", "Proposal", "Won"],
        datasets=[{"label": "Count", "data": [4, 2, 7]}],
    )

    root = _parse(chart_svg(chart))

    bars = _marks(root, "bar")
    assert len(bars) == 3
    heights = [float(b.get("height")) for b in bars]
    assert heights[2] > heights[0] > heights[1] > 0
    assert [t for t in _texts(root) if t in ("Qualified", "Proposal", "Won")] == [
        "Qualified",
        "Proposal",
        "Won",
    ]
    ticks = [el.text for el in _marks(root, "tick")]
    assert ticks[0] == "0" and ticks[-1] == "8"  # nice round top above the largest (7)
    assert not _marks(root, "legend")  # one dataset: no legend


def test_grouped_bars_for_several_datasets_have_a_legend():
    chart = ChartData(
        type="bar",
        labels=["Jan", "Feb"],
        datasets=[
            {"label": "Won", "data": [1, 2]},
            {"label": "Lost", "data": [3, 0]},
        ],
    )

    root = _parse(chart_svg(chart, width=600, height=300))

    assert len(_marks(root, "bar")) == 4
    legend = _marks(root, "legend")[0]
    assert [t.text for t in legend.iter("{http://www.w3.org/2000/svg}text")] == ["Won", "Lost"]
    assert root.get("width") == "600" and root.get("height") == "300"


def test_line_chart_has_one_point_per_value():
    chart = ChartData(
        type="line",
        labels=["2026-01", "2026-02", "2026-03", "2026-04"],
        datasets=[{"label": "Revenue", "data": [100, 250.5, 0, 75]}],
        value_format="money",
        currency="EUR",
    )

    root = _parse(chart_svg(chart))

    assert len(_marks(root, "point")) == 4
    assert len(list(root.iter("{http://www.w3.org/2000/svg}polyline"))) == 1
    assert "EUR 250.50" in "".join(root.itertext())


def test_pie_chart_has_one_slice_per_value_and_a_legend_with_shares():
    chart = ChartData(
        type="pie",
        labels=["Web", "Referral", "Event"],
        datasets=[{"label": "Leads", "data": [50, 30, 20]}],
    )

    root = _parse(chart_svg(chart))

    assert len(_marks(root, "slice")) == 3
    labels = [el.text for el in _marks(root, "label")]
    assert labels == ["Web · 50 (50%)", "Referral · 30 (30%)", "Event · 20 (20%)"]


def test_pie_chart_with_one_slice_is_a_full_ring():
    chart = ChartData(type="pie", labels=["All"], datasets=[{"label": "n", "data": [5]}])

    root = _parse(chart_svg(chart))

    (slice_,) = _marks(root, "slice")
    assert slice_.get("fill-rule") == "evenodd"


def test_funnel_draws_centred_steps_in_order():
    chart = ChartData(
        type="funnel",
        labels=["Leads", "Qualified", "Won"],
        datasets=[{"label": "n", "data": [100, 40, 10]}],
    )

    root = _parse(chart_svg(chart, width=720))

    steps = _marks(root, "funnel-step")
    widths = [float(s.get("width")) for s in steps]
    assert widths[0] > widths[1] > widths[2]
    centres = {round(float(s.get("x")) + float(s.get("width")) / 2) for s in steps}
    assert len(centres) == 1  # all centred on the same axis
    ys = [float(s.get("y")) for s in steps]
    assert ys == sorted(ys)  # top to bottom in the given order
    assert [el.text for el in _marks(root, "label")] == ["Leads", "Qualified", "Won"]


@pytest.mark.parametrize("kind", ["bar", "line", "pie", "funnel"])
def test_text_is_escaped(kind):
    nasty = '<script>alert("x")</script> & Co'
    chart = ChartData(
        type=kind,
        labels=[nasty, "B"],
        datasets=[
            {"label": "A & <B>", "data": [1, 2]},
            {"label": "C", "data": [3, 4]},
        ],
    )

    svg = chart_svg(chart)

    root = _parse(svg)  # still well-formed
    assert "<script>" not in svg
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    assert any("<script>" in t for t in root.itertext())  # shown as text, not markup


def test_no_data_says_so():
    root = _parse(chart_svg(ChartData(type="bar", labels=[], datasets=[])))

    assert _texts(root) == ["No data to chart."]
