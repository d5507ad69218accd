"""A run's HTML report: one self-contained file (inline SVG, no script, no network), with the
throughput and the tasks in flight over time and the durations per type, from the metrics a
TaskLog (crawler/tasklog.py) gives. ASCII only, so any viewer shows it as written."""

from __future__ import annotations

import html
import json
from typing import Any

_W, _H, _PAD = 640, 220, 40


def _polyline(points: list[tuple[float, float]], x_max: float, y_max: float, colour: str, name: str) -> str:
    if not points:
        return ""
    sx = (_W - 2 * _PAD) / (x_max or 1)
    sy = (_H - 2 * _PAD) / (y_max or 1)
    coords = " ".join(f"{_PAD + x * sx:.1f},{_H - _PAD - y * sy:.1f}" for x, y in points)
    return (
        f'<polyline class="series" data-name="{name}" fill="none" stroke="{colour}" stroke-width="2" '
        f'points="{coords}"/>'
    )


def _axes(x_label: str, y_label: str, x_max: float, y_max: float) -> str:
    return (
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#444"/>'
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#444"/>'
        f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle">{x_label} (0 to {x_max:.1f})</text>'
        f'<text x="12" y="{_PAD - 12}">{y_label} (max {y_max:g})</text>'
    )


def _chart(chart_id: str, title: str, body: str) -> str:
    return (
        f'<h2>{html.escape(title)}</h2><svg id="{chart_id}" class="chart" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _step(points: list[list[float]], index: int) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for t, *values in points:
        if out:
            out.append((t, out[-1][1]))
        out.append((t, values[index - 1]))
    return out


def html_report(metrics: dict[str, Any], title: str) -> str:
    elapsed = float(metrics.get("elapsed_s") or 0.0) or 1.0
    # throughput: tasks ended per second, in 20 buckets
    ends = metrics.get("finished_at_s") or []
    width = elapsed / 20
    buckets = [0] * 20
    for t in ends:
        buckets[min(19, int(t / width))] += 1
    rate = [((i + 0.5) * width, n / width) for i, n in enumerate(buckets)]
    peak = max((r for _, r in rate), default=1.0) or 1.0
    throughput = _axes("seconds", "tasks/s", elapsed, round(peak, 2)) + _polyline(
        rate, elapsed, peak, "#1f77b4", "throughput"
    )
    series = metrics.get("queue_and_in_flight") or []
    top = max([max(p[1], p[2]) for p in series] + [metrics.get("workers") or 1])
    flight = (
        _axes("seconds", "tasks", elapsed, top)
        + _polyline(_step(series, 2), elapsed, top, "#d62728", "in_flight")
        + _polyline(_step(series, 1), elapsed, top, "#2ca02c", "queue_depth")
    )
    per_type = metrics.get("per_type") or {}
    longest = max([v.get("p95_s") or 0 for v in per_type.values()] + [0.001])
    bars = []
    row_h = (_H - 2 * _PAD) / max(1, len(per_type))
    for i, (kind, figures) in enumerate(sorted(per_type.items())):
        y = _PAD + i * row_h
        for value, colour, part in (
            (figures.get("p95_s"), "#ff7f0e", "p95"),
            (figures.get("mean_s"), "#1f77b4", "mean"),
        ):
            if value:
                length = (_W - 3 * _PAD - 60) * value / longest
                bars.append(
                    f'<rect class="bar" data-type="{html.escape(kind)}" data-figure="{part}" x="{_PAD + 60}" '
                    f'y="{y + (0 if part == "p95" else row_h / 4):.1f}" width="{length:.1f}" '
                    f'height="{row_h / 2:.1f}" fill="{colour}"/>'
                )
        bars.append(f'<text x="{_PAD - 30}" y="{y + row_h / 2:.1f}">{html.escape(kind)[:14]}</text>')
    durations = (
        "".join(bars)
        + f'<text x="{_W - _PAD}" y="{_H - 8}" text-anchor="end">'
        + f"mean (blue), p95 (orange), up to {longest:.2f} s</text>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(kind)}</td><td>{f['completed']}</td><td>{f['failed']}</td>"
        f"<td>{f['failure_rate']}</td><td>{f['mean_s']}</td><td>{f['p95_s']}</td></tr>"
        for kind, f in sorted(per_type.items())
    )
    summary = {
        k: metrics.get(k)
        for k in ("elapsed_s", "workers", "tasks_ended", "tasks_per_minute", "utilisation_while_queued")
    }
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="ascii"><title>{html.escape(title)}</title>'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}svg{background:#fafafa}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><pre id="summary">{html.escape(json.dumps(summary, indent=1))}</pre>'
        '<table id="per-type"><tr><th>type</th><th>completed</th><th>failed</th><th>failure rate</th>'
        f"<th>mean s</th><th>p95 s</th></tr>{rows}</table>"
        + _chart("throughput", "Throughput over time", throughput)
        + _chart("in-flight", "Tasks in flight (red) and queued (green) over time", flight)
        + _chart("durations", "Durations per type", durations)
        + "</body></html>\n"
    )
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")
