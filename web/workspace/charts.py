"""Charts drawn on the server as SVG (no script, nothing from elsewhere), inline in the page.

Each function takes plain values and returns one ``<svg>`` element as text; every label is
escaped. Bars are proportional to the values: a bar's width is ``value / largest`` of the
plot's width, so a reader (or a test) can measure them.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

WIDTH = 640
ROW = 26
LABEL = 230
PLOT = WIDTH - LABEL - 70
GREEN, RED, GREY, BLUE = "#0b5d3b", "#b00020", "#5f6368", "#1a73e8"


def _svg(height: int, title: str, body: list[str]) -> str:
    t = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{t}" font-family="sans-serif" font-size="12">'
        f"<title>{t}</title>" + "".join(body) + "</svg>"
    )


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bars(title: str, items: list[tuple[str, int]], *, empty: str = "") -> str:
    """Horizontal bars of whole numbers that may be negative (green right of the axis for
    positive values, red left for negative ones)."""
    if not items:
        return _svg(40, title, [f'<text x="8" y="24" fill="{GREY}">{escape(empty)}</text>'])
    largest = max(abs(v) for _, v in items) or 1
    signed = any(v < 0 for _, v in items)
    axis = LABEL + (PLOT // 2 if signed else 0)
    span = PLOT // 2 if signed else PLOT
    body = []
    for i, (label, value) in enumerate(items):
        y = 8 + i * ROW
        w = round(abs(value) / largest * span)
        x = axis if value >= 0 else axis - w
        colour = GREEN if value >= 0 else RED
        body.append(
            f'<text x="{LABEL - 6}" y="{y + 15}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(_short(label))}</text>"
        )
        body.append(
            f'<rect class="bar" x="{x}" y="{y + 3}" width="{w}" height="{ROW - 8}" '
            f'fill="{colour}" data-value="{value}"/>'
        )
        tx = x + w + 4 if value >= 0 else x - 4
        anchor = "start" if value >= 0 else "end"
        body.append(
            f'<text x="{tx}" y="{y + 15}" text-anchor="{anchor}">{value:+,}</text>'
            if signed
            else f'<text x="{tx}" y="{y + 15}">{value:,}</text>'
        )
    height = 16 + len(items) * ROW
    body.append(f'<line x1="{axis}" y1="4" x2="{axis}" y2="{height - 6}" stroke="{GREY}"/>')
    return _svg(height, title, body)


def histogram(
    title: str,
    series: list[tuple[str, list[float]]],
    *,
    bins: int = 10,
    empty: str = "",
) -> str:
    """Counts of values from 0 to 1 in ``bins`` equal bins, one bar per series in each bin
    (turnout of the precincts: protocol beside official)."""
    if not any(values for _, values in series):
        return _svg(40, title, [f'<text x="8" y="24" fill="{GREY}">{escape(empty)}</text>'])
    counts = []
    for _, values in series:
        c = [0] * bins
        for v in values:
            c[min(bins - 1, max(0, int(v * bins)))] += 1
        counts.append(c)
    largest = max(max(c) for c in counts) or 1
    height, top, bottom, left = 220, 24, 186, 36
    slot = (WIDTH - left - 10) / bins
    bar = slot / (len(series) + 1)
    colours = (BLUE, GREY, GREEN)
    body = []
    for s, (name, _) in enumerate(series):
        body.append(
            f'<rect x="{left + s * 150}" y="4" width="12" height="12" fill="{colours[s % 3]}"/>'
            f'<text x="{left + s * 150 + 16}" y="14">{escape(name)}</text>'
        )
    for b in range(bins):
        x0 = left + b * slot
        for s, c in enumerate(counts):
            h = round(c[b] / largest * (bottom - top))
            body.append(
                f'<rect class="bar" x="{x0 + s * bar + bar / 2:.1f}" y="{bottom - h}" '
                f'width="{bar:.1f}" height="{h}" fill="{colours[s % 3]}" data-value="{c[b]}"/>'
            )
        body.append(
            f'<text x="{x0 + slot / 2:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{b * 100 // bins}–{(b + 1) * 100 // bins}%</text>"
        )
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - 8}" y2="{bottom}" stroke="{GREY}"/>')
    body.append(f'<text x="4" y="{top + 8}">{largest}</text><text x="4" y="{bottom}">0</text>')
    return _svg(height, title, body)


AMBER = "#8a5a00"
MAP_HEIGHT = 420


def dot_map(
    title: str,
    points: list[tuple[str, float, float, str, bool]],
    colours: dict[str, str],
    *,
    empty: str = "",
) -> str:
    """Precincts as dots at their latitude and longitude (an equirectangular view of their
    bounding box, narrowed by the cosine of its middle latitude), coloured by state: ``points``
    are (label, latitude, longitude, state, ringed). No tiles, nothing from elsewhere."""
    if not points:
        return _svg(40, title, [f'<text x="8" y="24" fill="{GREY}">{escape(empty)}</text>'])
    import math

    lats = [p[1] for p in points]
    lons = [p[2] for p in points]
    lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    w_deg = max((lon1 - lon0) * k, 1e-6)
    h_deg = max(lat1 - lat0, 1e-6)
    pad = 12
    scale = min((WIDTH - 2 * pad) / w_deg, (MAP_HEIGHT - 2 * pad) / h_deg)
    height = round(h_deg * scale + 2 * pad)
    r = 4 if len(points) < 500 else 2.5 if len(points) < 3000 else 1.6
    body = [f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#f3f4f1"/>']
    named = len(points) <= 3000  # (each dot's name as a tooltip: not for a whole country)
    for label, lat, lon, state, ringed in points:
        x = pad + (lon - lon0) * k * scale
        y = pad + (lat1 - lat) * scale
        ring = f' stroke="{BLUE}" stroke-width="1.5"' if ringed else ""
        tip = f"<title>{escape(label)}</title>" if named else ""
        body.append(
            f'<circle class="dot {escape(state)}" cx="{x:.1f}" cy="{y:.1f}" r="{r}" '
            f'fill="{colours.get(state, GREY)}"{ring}>{tip}</circle>'
        )
    return _svg(height, title, body)
