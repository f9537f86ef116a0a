"""Charts drawn on the server as SVG (for the PDF export and emails, where no JavaScript
runs): bar, line, pie and funnel from the same ``ChartData`` the browser hands Chart.js."""

from __future__ import annotations

# --- svg charts (H3) --------------------------------------------------------------------------
import math
from html import escape

from .engine import ChartData

# Chart.js's default-like palette, so the PDF looks like the page.
PALETTE = (
    "#0d6efd",
    "#20c997",
    "#ffc107",
    "#dc3545",
    "#6f42c1",
    "#fd7e14",
    "#0dcaf0",
    "#198754",
    "#d63384",
    "#6c757d",
)
FONT = 'font-family="Helvetica, Arial, sans-serif"'
LABEL_CHARS = 18  # category labels longer than this are cut with an ellipsis


def _t(value) -> str:
    """Text escaped for an SVG text node or attribute."""
    return escape(str(value), quote=True)


def _short(label, limit: int = LABEL_CHARS) -> str:
    text = str(label)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value) -> float:
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def format_value(value, chart: ChartData) -> str:
    """A value as the chart's axis and labels show it (``1,250``, ``EUR 1,250``, ``12.5%``)."""
    number = _number(value)
    text = f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"
    if chart.value_format == "percent":
        return f"{number:,.1f}%"
    if chart.value_format == "money" and chart.currency:
        return f"{chart.currency} {text}"
    return text


def _nice_ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``high`` (1, 2, 2.5 or 5 × 10ⁿ apart)."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _svg(width: int, height: int, body: list[str], title: str = "") -> str:
    heading = f"<title>{_t(title)}</title>" if title else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {FONT} font-size="11">'
        + heading
        + "".join(body)
        + "</svg>"
    )


def _legend(datasets: list[dict], x: float, y: float) -> list[str]:
    parts = ['<g class="legend">']
    for i, dataset in enumerate(datasets):
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.1f}" y="{y + i * 16:.1f}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14:.1f}" y="{y + i * 16 + 9:.1f}">'
            f"{_t(_short(dataset.get('label', ''), 24))}</text>"
        )
    parts.append("</g>")
    return parts


def _axes(chart, ticks, left, top, plot_w, plot_h) -> list[str]:
    """The value axis (horizontal grid lines with tick labels) and the base line."""
    parts = ['<g class="axis">']
    high = ticks[-1] or 1
    for tick in ticks:
        y = top + plot_h - tick / high * plot_h
        parts.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}" '
            f'stroke="#e9ecef"/>'
            f'<text class="tick" x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_t(format_value(tick, chart))}</text>"
        )
    parts.append(
        f'<line x1="{left:.1f}" y1="{top + plot_h:.1f}" x2="{left + plot_w:.1f}" '
        f'y2="{top + plot_h:.1f}" stroke="#6c757d"/></g>'
    )
    return parts


def _category_labels(labels, left, slot, baseline) -> list[str]:
    parts = ['<g class="labels">']
    for i, label in enumerate(labels):
        x = left + slot * (i + 0.5)
        parts.append(
            f'<text class="label" x="{x:.1f}" y="{baseline:.1f}" text-anchor="middle">'
            f"{_t(_short(label))}</text>"
        )
    parts.append("</g>")
    return parts


def _plot_box(chart: ChartData, width: int, height: int):
    legend_w = 150 if len(chart.datasets) > 1 else 0
    left, top, bottom = 70, 14, 34
    return left, top, width - left - 16 - legend_w, height - top - bottom, legend_w


def _bar(chart: ChartData, width: int, height: int) -> list[str]:
    left, top, plot_w, plot_h, legend_w = _plot_box(chart, width, height)
    values = [_number(v) for d in chart.datasets for v in d.get("data", [])]
    ticks = _nice_ticks(max([0.0, *values]))
    high = ticks[-1] or 1
    parts = _axes(chart, ticks, left, top, plot_w, plot_h)
    slot = plot_w / max(len(chart.labels), 1)
    count = max(len(chart.datasets), 1)
    bar_w = slot * 0.8 / count
    for d, dataset in enumerate(chart.datasets):
        color = PALETTE[d % len(PALETTE)]
        parts.append(f'<g class="dataset" fill="{color}">')
        for i, value in enumerate(dataset.get("data", [])[: len(chart.labels)]):
            h = max(_number(value), 0) / high * plot_h
            x = left + slot * i + slot * 0.1 + bar_w * d
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>'
                f"{_t(chart.labels[i])}: {_t(format_value(value, chart))}</title></rect>"
            )
        parts.append("</g>")
    parts += _category_labels(chart.labels, left, slot, top + plot_h + 16)
    if legend_w:
        parts += _legend(chart.datasets, width - legend_w + 4, top)
    return parts


def _line(chart: ChartData, width: int, height: int) -> list[str]:
    left, top, plot_w, plot_h, legend_w = _plot_box(chart, width, height)
    values = [_number(v) for d in chart.datasets for v in d.get("data", [])]
    ticks = _nice_ticks(max([0.0, *values]))
    high = ticks[-1] or 1
    parts = _axes(chart, ticks, left, top, plot_w, plot_h)
    slot = plot_w / max(len(chart.labels), 1)
    for d, dataset in enumerate(chart.datasets):
        color = PALETTE[d % len(PALETTE)]
        points = [
            (left + slot * (i + 0.5), top + plot_h - max(_number(v), 0) / high * plot_h, v)
            for i, v in enumerate(dataset.get("data", [])[: len(chart.labels)])
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _v in points)
        parts.append(
            f'<g class="dataset"><polyline points="{path}" fill="none" stroke="{color}" '
            f'stroke-width="2"/>'
        )
        for i, (x, y, value) in enumerate(points):
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>'
                f"{_t(chart.labels[i])}: {_t(format_value(value, chart))}</title></circle>"
            )
        parts.append("</g>")
    parts += _category_labels(chart.labels, left, slot, top + plot_h + 16)
    if legend_w:
        parts += _legend(chart.datasets, width - legend_w + 4, top)
    return parts


def _first_dataset(chart: ChartData) -> list[float]:
    """The first dataset's values (pie and funnel draw one), one per label, none negative."""
    values = chart.datasets[0].get("data", []) if chart.datasets else []
    return [max(_number(v), 0) for v in values[: len(chart.labels)]]


def _pie(chart: ChartData, width: int, height: int, *, hole: float = 0.55) -> list[str]:
    """A doughnut of the first dataset (Chart.js draws ``pie`` as a doughnut too)."""
    data = _first_dataset(chart)
    total = sum(data)
    radius = min(height - 20, width * 0.5) / 2
    cx, cy = 20 + radius, height / 2
    inner = radius * hole
    parts = ['<g class="dataset">']
    angle = -math.pi / 2
    for i, value in enumerate(data):
        color = PALETTE[i % len(PALETTE)]
        share = value / total if total else 0
        tip = f"<title>{_t(chart.labels[i])}: {_t(format_value(value, chart))}</title>"
        if share >= 0.9999:
            # One slice that is the whole: an arc cannot start and end at the same point.
            parts.append(
                f'<path class="slice" fill="{color}" fill-rule="evenodd" d="'
                f"M {cx - radius:.2f} {cy:.2f} a {radius:.2f} {radius:.2f} 0 1 0 "
                f"{2 * radius:.2f} 0 a {radius:.2f} {radius:.2f} 0 1 0 {-2 * radius:.2f} 0 Z "
                f"M {cx - inner:.2f} {cy:.2f} a {inner:.2f} {inner:.2f} 0 1 0 {2 * inner:.2f} 0 "
                f'a {inner:.2f} {inner:.2f} 0 1 0 {-2 * inner:.2f} 0 Z">{tip}</path>'
            )
            angle += 2 * math.pi
            continue
        end = angle + share * 2 * math.pi
        large = 1 if share > 0.5 else 0
        x1, y1 = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        x2, y2 = cx + radius * math.cos(end), cy + radius * math.sin(end)
        x3, y3 = cx + inner * math.cos(end), cy + inner * math.sin(end)
        x4, y4 = cx + inner * math.cos(angle), cy + inner * math.sin(angle)
        parts.append(
            f'<path class="slice" fill="{color}" stroke="#fff" d="M {x1:.2f} {y1:.2f} '
            f"A {radius:.2f} {radius:.2f} 0 {large} 1 {x2:.2f} {y2:.2f} "
            f"L {x3:.2f} {y3:.2f} A {inner:.2f} {inner:.2f} 0 {large} 0 {x4:.2f} {y4:.2f} Z"
            f'">{tip}</path>'
        )
        angle = end
    parts.append("</g>")
    # The legend names every slice with its value and share.
    x = cx + radius + 30
    rows = max(1, int((height - 20) // 16))
    parts.append('<g class="legend">')
    for i, value in enumerate(data[:rows]):
        share = value / total * 100 if total else 0
        parts.append(
            f'<rect x="{x:.1f}" y="{10 + i * 16:.1f}" width="10" height="10" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text class="label" x="{x + 14:.1f}" y="{19 + i * 16:.1f}">'
            f"{_t(_short(chart.labels[i], 30))} · {_t(format_value(value, chart))} "
            f"({share:.0f}%)</text>"
        )
    parts.append("</g>")
    return parts


def _funnel(chart: ChartData, width: int, height: int) -> list[str]:
    """Horizontal bars, centred, one per step in the given order, widest = largest."""
    data = _first_dataset(chart)
    label_w = 150
    plot_w = width - label_w - 20
    step_h = (height - 10) / max(len(data), 1)
    high = max(data, default=0) or 1
    centre = label_w + plot_w / 2
    parts = ['<g class="dataset">']
    for i, value in enumerate(data):
        w = max(value / high * plot_w, 1)
        y = 5 + i * step_h
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + step_h / 2 + 4:.1f}" '
            f'text-anchor="end">{_t(_short(chart.labels[i], 24))}</text>'
            f'<rect class="funnel-step" x="{centre - w / 2:.1f}" y="{y + step_h * 0.1:.1f}" '
            f'width="{w:.1f}" height="{step_h * 0.8:.1f}" fill="{color}"><title>'
            f"{_t(chart.labels[i])}: {_t(format_value(value, chart))}</title></rect>"
            f'<text class="value" x="{centre:.1f}" y="{y + step_h / 2 + 4:.1f}" '
            f'text-anchor="middle" fill="#212529">{_t(format_value(value, chart))}</text>'
        )
    parts.append("</g>")
    return parts


def chart_svg(chart: ChartData, *, width: int = 720, height: int = 320) -> str:
    """``chart`` as a standalone SVG document (a string): bar (grouped bars for several
    datasets), line, pie/doughnut or funnel, with labels, value ticks and a legend when
    there are several datasets. All text is escaped; nothing external is referenced."""
    if not chart.labels or not chart.datasets:
        from django.utils.translation import gettext as _

        body = [
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            f'fill="#6c757d">{_t(_("No data to chart."))}</text>'
        ]
        return _svg(width, height, body)
    draw = {"bar": _bar, "line": _line, "pie": _pie, "doughnut": _pie, "funnel": _funnel}.get(
        chart.type, _bar
    )
    return _svg(width, height, draw(chart, width, height))
