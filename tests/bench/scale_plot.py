#!/usr/bin/env python3
"""The scale curve of docs/performance.md, drawn from what tests/bench/scale.sh measured.

    python3 tests/bench/scale_plot.py [tests/bench/scale.json]          write docs/performance-scale.svg
    python3 tests/bench/scale_plot.py --check [tests/bench/scale.json]  exit 1 when the SVG is not what the JSON gives

A hand-written SVG (no plotting library is installed here): the output depends
only on the JSON, so tests/docs/drift.py can check the picture matches the figures.
Left: seconds per path against the number of machines (both axes log 2), obsctl
solid, the hand-made baseline dashed. Right: obsctl's own CPU time and peak memory.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SVG = ROOT / "docs/performance-scale.svg"
DATA = ROOT / "tests/bench/scale.json"

# (key in a size's record, label, colour, dashed)
TIMES = [
    ("cold_s", "cold up", "#1f77b4", False),
    ("baseline_cold_s", "baseline cold", "#1f77b4", True),
    ("full_s", "up --full", "#9467bd", False),
    ("noop_s", "no-op up (fast path)", "#2ca02c", False),
    ("baseline_noop_s", "baseline no-op", "#2ca02c", True),
    ("destroy_s", "destroy", "#8c564b", False),
    ("plan_s", "plan", "#ff7f0e", False),
    ("status_s", "status", "#d62728", False),
]
W, H = 960, 430
PANEL = [(70, 40, 500, 340), (650, 40, 280, 340)]  # x, y, width, height


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10**e
            if lo <= v <= hi:
                ticks.append(v)
    return ticks


def fmt(v: float) -> str:
    return f"{v:g}"


def render(data: dict) -> str:
    sizes = data["sizes"]
    ns = [s["machines"] for s in sizes]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    xlo, xhi = math.log2(min(ns)) - 0.2, math.log2(max(ns)) + 0.2

    def panel(idx: int, title: str, ylabel: str, series: list[tuple[str, str, bool, list[float]]], logy: bool) -> None:
        px, py, pw, ph = PANEL[idx]
        values = [v for *_, vs in series for v in vs if v and v > 0]
        if logy:
            ylo, yhi = min(values) / 1.3, max(values) * 1.3
            fy = lambda v: py + ph - (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)) * ph  # noqa: E731
            ticks = log_ticks(ylo, yhi)
        else:
            ylo, yhi = 0.0, max(values) * 1.15
            fy = lambda v: py + ph - (v - ylo) / (yhi - ylo) * ph  # noqa: E731
            step = 10 ** math.floor(math.log10(yhi / 4))
            step *= 5 if yhi / step > 20 else 2 if yhi / step > 8 else 1
            ticks = [i * step for i in range(int(yhi / step) + 1)]
        fx = lambda n: px + (math.log2(n) - xlo) / (xhi - xlo) * pw  # noqa: E731
        out.append(f'<text x="{px + pw / 2}" y="{py - 14}" text-anchor="middle" font-weight="bold">{esc(title)}</text>')
        out.append(f'<rect x="{px}" y="{py}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
        for t in ticks:
            y = fy(t)
            out.append(f'<line x1="{px}" y1="{y:.1f}" x2="{px + pw}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{px - 5}" y="{y + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
        for n in ns:
            x = fx(n)
            out.append(f'<line x1="{x:.1f}" y1="{py}" x2="{x:.1f}" y2="{py + ph}" stroke="#eee"/>')
            out.append(f'<text x="{x:.1f}" y="{py + ph + 16}" text-anchor="middle">{n}</text>')
        out.append(f'<text x="{px + pw / 2}" y="{py + ph + 34}" text-anchor="middle">lab machines</text>')
        out.append(f'<text x="{px - 45}" y="{py + ph / 2}" text-anchor="middle" transform="rotate(-90 {px - 45} {py + ph / 2})">{esc(ylabel)}</text>')
        for i, (label, colour, dashed, vs) in enumerate(series):
            pts = [(fx(n), fy(v)) for n, v in zip(ns, vs) if v and v > 0]
            dash = ' stroke-dasharray="6 4"' if dashed else ""
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}"/>')
            for x, y in pts:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            ly = py + 14 + 16 * i
            out.append(f'<line x1="{px + 8}" y1="{ly - 4}" x2="{px + 30}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>')
            out.append(f'<text x="{px + 35}" y="{ly}">{esc(label)}</text>')

    panel(0, "Seconds per path (log scales)", "seconds",
          [(label, colour, dashed, [s.get(key) or 0 for s in sizes]) for key, label, colour, dashed in TIMES], True)
    own = [("CPU s, cold up", "#1f77b4", False, [s["own"]["cold"]["cpu_s"] or 0 for s in sizes]),
           ("CPU s, up --full", "#9467bd", False, [s["own"]["full"]["cpu_s"] or 0 for s in sizes]),
           ("CPU s, no-op up", "#2ca02c", False, [s["own"]["noop"]["cpu_s"] or 0 for s in sizes]),
           ("peak RSS MB / 10, any command", "#7f7f7f", True,
            [max((v["peak_rss_mb"] or 0) for v in s["own"].values()) / 10 for s in sizes])]
    panel(1, "obsctl's own CPU and memory", "CPU seconds  |  MB / 10", own, False)
    loads = ", ".join(f"{s['machines']}: {s['load_before']}→{s['load_after']}" for s in sizes)
    out.append(f'<text x="10" y="{H - 26}" font-size="11">{esc(data["machine"])}; measured {esc(data["measured"])} at {esc(data["commit"])}, without {esc(data["without"])}</text>')
    out.append(f'<text x="10" y="{H - 10}" font-size="11">load average (1 min) before→after each size: {esc(loads)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> int:
    args = sys.argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    data = json.loads(Path(args[0] if args else DATA).read_text())
    svg = render(data)
    if check:
        if not SVG.is_file() or SVG.read_text() != svg:
            print(f"{SVG.relative_to(ROOT)} is not what {DATA.relative_to(ROOT)} gives: run python3 tests/bench/scale_plot.py", file=sys.stderr)
            return 1
        return 0
    SVG.write_text(svg)
    print(f"scale_plot: wrote {SVG.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
