"""Chart primitives for the HTML report: hand-written inline SVG, no plotting library.

Four charts, each a pure function that returns one `<figure>` as a `str`:

- `xy_chart`: series of points (with a whisker for an interval), lines or
  best-so-far steps on two axes, with horizontal reference lines and bands;
- `forest_chart`: one row per estimate, a point and its interval, against
  vertical references (gain 1.0, the A/A band);
- `bar_chart`: one horizontal bar per value, with an interval and a note;
- `parallel_chart`: one polyline per trial across one vertical axis per knob.

Why no library: plotly costs about 4.8 MB of JavaScript a page, matplotlib's SVG
has no hover; these charts are a few KB, deterministic (the same input gives the
same string), readable with JavaScript off, and hover works through SVG's own
`<title>` elements. The page inlines `CSS` once; the markup uses classes, and
only geometry (coordinates, `text-anchor`) is written as attributes.

**What a test can count.** Every drawn datum carries data attributes:

- xy: `<g class="series cK" data-series="NAME" data-count="DRAWN"
  data-omitted="LEFT-OUT" data-style="points|line|step">`; a POINTS mark is one
  `<circle class="mark mark-KIND" data-x data-y [data-low data-high]
  [data-kind] [data-KEY...]>` (its whisker a `<line class="whisker">` before
  it); a LINE or STEP series is exactly one `<path class="line"
  data-series data-count>`.
- forest and bar: `<g class="row" data-label=...>` per row, holding a
  `<circle class="mark">` (forest) or `<rect class="bar" data-label
  data-value>` (bar) and a `<line class="interval" data-low data-high>`;
  the rows' `<g class="rows" data-count data-omitted>`.
- parallel: one `<path class="pline sK" data-colour data-missing>` per line,
  one `<g class="paxis" data-axis=NAME>` per axis.
- references: `<line class="ref">` and `<rect class="band">`, named in the legend.
  Legend swatches have classes of their own (`swatch-point`, `swatch-line`,
  `swatch-ref`, `swatch-band`), so counting `.mark` or `.band` counts data only.
- every tick label: `<text class="tick" data-value=...>`; y-axis and
  categorical labels sit at their position exactly (`y` = the position,
  centred with `dy`), x-axis labels at `x` = the position.

Data attribute values are short floats (`f"{v:.6g}"`); pixel coordinates have
one decimal. `CSS` draws the kinds "pruned", "failed" and "unstable" as hollow
marks; any other kind is a class the page may style.

**Failure modes.** Data never raises: a value that cannot be drawn (NaN or
infinite; zero or negative on a log scale; a percentile outside [0, 100) on the
percentile axis; outside an axis's explicit bounds) is left out and counted in
`data-omitted`, and a chart with nothing to draw says "no data" in text ("no
data in this range" when explicit bounds hold none of it). Bad
*arguments*, which are the caller's bugs, raise `ValueError` when the value is
built: a chart id not matching [a-z][a-z0-9-]*, a kind not matching
[a-z0-9-]*, a data key not matching [a-z0-9-]+ or one the chart writes itself
(x, y, low, high, kind, label, value, ...), axis bounds in the wrong order or
not drawable on their scale, `bytes_ticks` on a scale other than LOG2.

Every text (titles, labels, names, notes, data values) goes through
`html.escape`; characters XML forbids (controls other than tab and newline) are
dropped, so each figure parses as XML.

**Palettes.** `CATEGORICAL` is Okabe-Ito (colour-blind safe), without its yellow,
which is unreadable on white: series, rows and bars take `cK` = colour K modulo
7. `SEQUENTIAL` is viridis sampled at six stops from 0.8 (light green, low
values) down to 0.0 (dark purple, high values): the bright yellow end is cut
because a thin line in it vanishes on white, and the darkest colour goes to the
highest value so that the best lines stand out (and are drawn last, on top).
"""

from __future__ import annotations

import enum
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

# Okabe & Ito (2008), "Color Universal Design": blue, vermillion, bluish green,
# reddish purple, orange, sky blue, black. Yellow (#F0E442) is left out.
CATEGORICAL: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
)
# viridis at 0.8, 0.7, 0.6, 0.4, 0.2, 0.0: lowest value first.
SEQUENTIAL: tuple[str, ...] = ("#7ad151", "#44bf70", "#22a884", "#2a788e", "#414487", "#440154")
# Colour of a parallel line whose colour value is not finite.
NO_COLOUR = "#999999"

_FONT = 12  # px, the base font size CSS sets; text widths below are estimates from it.
_CHAR = 0.58 * _FONT  # mean width of one character of a sans-serif font, px

CSS: str = (
    """.chart{margin:1.5em 0;break-inside:avoid}
.chart figcaption{font-weight:600;margin:0 0 .3em}
.chart svg{display:block;max-width:100%;height:auto;overflow:visible;"""
    """font:12px system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
.chart text{fill:#333}
.chart .plot-area{fill:#fff}
.chart .grid{fill:none;stroke:#e6e6e6;stroke-width:1}
.chart .axis{fill:none;stroke:#666;stroke-width:1}
.chart .tick{font-size:11px;fill:#555}
.chart .axis-label{font-size:12px;fill:#333}
.chart .ref,.chart .swatch-ref{stroke:#444;stroke-width:1.25;stroke-dasharray:5 3}
.chart .band,.chart .swatch-band{fill:#888;fill-opacity:.16}
.chart .swatch-point{fill:currentColor}
.chart .swatch-line{fill:none;stroke:currentColor;stroke-width:2}
.chart .legend text{font-size:11px}
.chart .mark{fill:currentColor;stroke:#fff;stroke-width:.75}
.chart .mark:hover{stroke:#000;stroke-width:1.5}
.chart .mark-pruned,.chart .mark-failed,.chart .mark-unstable"""
    """{fill:#fff;stroke:currentColor;stroke-width:1.25}
.chart .whisker,.chart .interval{stroke:currentColor;stroke-width:1.5}
.chart .line{fill:none;stroke:currentColor;stroke-width:1.75;stroke-linejoin:round}
.chart .hover{fill:transparent}
.chart .hover:hover{fill:currentColor}
.chart .bar{fill:currentColor;fill-opacity:.75}
.chart .row:hover .bar{fill-opacity:1}
.chart .stripe{fill:#f5f5f5}
.chart .row-label{font-size:12px}
.chart .note{font-size:11px;fill:#555;font-style:italic}
.chart .missing{font-size:11px;fill:#777}
.chart .nodata{font-size:14px;fill:#777}
.chart .pline{fill:none;stroke-width:1.5;stroke-opacity:.85}
.chart .pline:hover{stroke-width:3.5;stroke-opacity:1}
.chart .paxis-name{font-size:11px;font-weight:600}
.chart .category{font-size:11px;fill:#333}
.chart-parallel .paxis text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.chart-bar .interval{stroke:#222}
"""
    + "".join(f".chart .c{k}{{color:{colour}}}\n" for k, colour in enumerate(CATEGORICAL))
    + "".join(
        f".chart .pline.s{k}{{stroke:{colour}}}.chart rect.s{k}{{fill:{colour}}}\n"
        for k, colour in enumerate(SEQUENTIAL)
    )
    + f".chart .pline.s-none{{stroke:{NO_COLOUR}}}\n"
    + "@media print{.chart{break-inside:avoid}.chart .stripe{fill:#f0f0f0}}\n"
)

_ID = re.compile(r"[a-z][a-z0-9-]*\Z")
_KIND = re.compile(r"[a-z0-9-]*\Z")
_KEY = re.compile(r"[a-z0-9-]+\Z")
# Data attributes the charts write themselves: a caller's key of the same name
# would make a duplicate attribute, which is not well-formed XML.
_RESERVED_KEYS = frozenset(
    {"x", "y", "low", "high", "kind", "label", "value", "series", "count", "omitted", "style"}
    | {"colour", "missing", "axis", "category", "chart"}
)
# Characters XML 1.0 forbids, and DEL: dropped from every text.
_FORBIDDEN = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_EPS = 1e-9


class Scale(enum.Enum):
    """How an axis turns a value into a position.

    LINEAR: as is; ticks at 1, 2 or 5 x 10^k.
    LOG2: log2 of a positive value; ticks at powers of two (sizes).
    LOG10: log10 of a positive value; ticks at powers of ten, or at 1, 2, 5 x
        10^k over a short range.
    INVERSE_PERCENTILE: HdrHistogram's percentile axis. A value is a percentile
        p in [0, 100); its position is log10(1 / (1 - p/100)), so 90, 99, 99.9
        and 99.99 lie one step apart; ticks read "90%", "99%", "99.9%", ...
    A range too short for a log scale's own ticks gets linear nice ticks.
    """

    LINEAR = "linear"
    LOG2 = "log2"
    LOG10 = "log10"
    INVERSE_PERCENTILE = "inverse-percentile"


class SeriesStyle(enum.Enum):
    """How an xy series is drawn.

    POINTS: a circle per mark, and a vertical whisker when it has low and high.
    LINE: one path through the marks in the order given (give them sorted by x);
        a mark that cannot be drawn breaks the line.
    STEP: one path that holds each mark's y until the next mark's x, then steps
        (a best-so-far line).
    LINE and STEP draw no whiskers; a mark with a title gets an invisible hover
    target at its vertex.
    """

    POINTS = "points"
    LINE = "line"
    STEP = "step"


@dataclass(frozen=True, slots=True)
class Axis:
    """One axis: its label (with its unit, e.g. "gain (x defaults)"), scale and bounds.

    `low`/`high` are in the data's units (a percentile for INVERSE_PERCENTILE);
    None takes that bound from the data, with a margin of 5% of the range.
    `bytes_ticks` labels a LOG2 axis's ticks as sizes ("4 KiB", "1 MiB").
    Raises ValueError: a bound not drawable on the scale, low >= high,
    `bytes_ticks` on another scale.
    """

    label: str
    scale: Scale = Scale.LINEAR
    low: float | None = None
    high: float | None = None
    bytes_ticks: bool = False

    def __post_init__(self) -> None:
        if self.bytes_ticks and self.scale is not Scale.LOG2:
            raise ValueError(f"axis {self.label!r}: bytes_ticks needs Scale.LOG2")
        for name, bound in (("low", self.low), ("high", self.high)):
            if bound is not None and _forward(self.scale, bound) is None:
                raise ValueError(
                    f"axis {self.label!r}: {name}={bound!r} is not drawable on a "
                    f"{self.scale.value} scale"
                )
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"axis {self.label!r}: low {self.low} is not below high {self.high}")


@dataclass(frozen=True, slots=True)
class Mark:
    """One datum of an xy series, in the axes' units.

    `low`/`high`: an interval on y, drawn as a whisker when both are given (a NaN
    end draws none; an end off the axis is cut at the plot's edge). `title`:
    the hover text (empty: "series: x .., y .. [low, high]"). `kind`: a css class
    suffix (`mark-KIND`) and `data-kind`. `data`: extra `data-KEY` attributes.
    Raises ValueError: a bad kind or data key (see the module docstring).
    """

    x: float
    y: float
    low: float | None = None
    high: float | None = None
    title: str = ""
    kind: str = ""
    data: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _check_data(self.data)


@dataclass(frozen=True, slots=True)
class Series:
    """A named sequence of marks drawn in one style.

    `colour`: an index into `CATEGORICAL` (modulo its length); None takes the
    series' position in the chart.
    """

    name: str
    marks: tuple[Mark, ...]
    style: SeriesStyle = SeriesStyle.POINTS
    colour: int | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference the data is read against: a line `at` a value, or a band `low`..`high`.

    On an xy chart it is horizontal (a y value); on a forest or bar chart
    vertical (an x value). Its label is shown in the legend and as hover text.
    A reference not drawable on the axis is left out. Raises ValueError: neither
    or both forms, a band with low >= high, a non-finite value.
    """

    label: str
    at: float | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        line = self.at is not None
        band = self.low is not None and self.high is not None
        partial = (self.low is None) != (self.high is None)
        if line == band or partial:
            raise ValueError(
                f"reference {self.label!r}: give at= (a line) or low= and high= (a band)"
            )
        values = [v for v in (self.at, self.low, self.high) if v is not None]
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"reference {self.label!r}: values must be finite")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"reference {self.label!r}: low {self.low} is not below high")


@dataclass(frozen=True, slots=True)
class ForestRow:
    """One row of a forest plot: an estimate with its interval, in the x axis's units.

    `value` None (or not drawable) draws the label and "no value"; an interval
    needs both ends. `colour`: an index into `CATEGORICAL`. `title`: hover text
    for the row (empty: "label: value [low, high]"). `kind`, `data`: as `Mark`.
    """

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    kind: str = ""
    title: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
    colour: int = 0

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _check_data(self.data)


@dataclass(frozen=True, slots=True)
class Bar:
    """One horizontal bar, from the chart's base to `value`, with an optional interval.

    `note`: a line of text under the bar (a strategy's claim), cut with "..." to
    the plot's width (whole in the hover text). `colour`, `kind`, `title`, `data`:
    as `ForestRow`.
    """

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    kind: str = ""
    title: str = ""
    note: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
    colour: int = 0

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        _check_data(self.data)


@dataclass(frozen=True, slots=True)
class ParallelAxis:
    """One vertical axis of a parallel-coordinates chart: a knob.

    Numeric (no `categories`): `scale` LINEAR, LOG2 (sizes; `bytes_ticks` as
    `Axis`) or LOG10, bounds from the lines' values. Categorical: `categories`
    in order from the bottom up; a line's value matches a category by `str(value)`
    (so a bool matches "True"/"False"). Raises ValueError: INVERSE_PERCENTILE,
    bytes_ticks on a scale other than LOG2.
    """

    name: str
    scale: Scale = Scale.LINEAR
    categories: tuple[str, ...] = ()
    bytes_ticks: bool = False

    def __post_init__(self) -> None:
        if self.scale is Scale.INVERSE_PERCENTILE:
            raise ValueError(f"parallel axis {self.name!r}: no percentile axis here")
        if self.bytes_ticks and self.scale is not Scale.LOG2:
            raise ValueError(f"parallel axis {self.name!r}: bytes_ticks needs Scale.LOG2")


@dataclass(frozen=True, slots=True)
class ParallelLine:
    """One trial across the axes: `values` keyed by axis name.

    A value that is None, absent, not drawable on its axis or not among its
    categories is drawn at the axis's "unset" position below it (the knob was
    left at Twisted's default), and counted in `data-missing`.
    `colour_value` picks the colour on `SEQUENTIAL` (higher is darker; NaN grey).
    """

    values: Mapping[str, float | str | bool | None]
    colour_value: float
    title: str = ""
    data: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_data(self.data)


# -- public charts


def xy_chart(
    chart_id: str,
    title: str,
    x: Axis,
    y: Axis,
    series: Sequence[Series],
    references: Sequence[Reference] = (),
    width: int = 760,
    height: int = 320,
) -> str:
    """A complete `<figure>` of `series` on `x` and `y`, references horizontal at y values.

    `width`/`height`: the SVG's size in px (its viewBox; CSS lets it shrink).
    A legend names the series when there are several, and the references.
    Never raises on data; a chart with nothing drawable says "no data".
    Raises ValueError: a bad `chart_id`.
    """
    _check_id(chart_id)
    marks = [
        m
        for s in series
        for m in s.marks
        if _forward(x.scale, m.x) is not None and _forward(y.scale, m.y) is not None
    ]
    x_domain = _domain(x, [m.x for m in marks])
    y_domain = _domain(
        y, [v for m in marks for v in (m.y, m.low, m.high) if v is not None], references
    )
    legend = _reference_items(references, y.scale)
    if len(series) > 1:
        legend[:0] = [
            _LegendItem(s.name, _swatch_of(s.style), _colour(s.colour, k))
            for k, s in enumerate(series)
        ]
    rows = _legend_rows(legend, width - 24)
    top = 10 + 18 * len(rows)
    bottom = 44
    if x_domain is None or y_domain is None:
        groups = [_series_group(s, k, 0, len(s.marks), "") for k, s in enumerate(series)]
        omitted = sum(len(s.marks) for s in series)
        return _no_data(chart_id, "xy", title, width, height, groups, omitted)
    y_ticks = _ticks(y_domain, max(2, int((height - top - bottom) / 40)))
    left = 30 + max((_text_width(t.label, 11) for t in y_ticks), default=0)
    box = _Box(left, top, width - left - 18, height - top - bottom)
    xr = _Ruler(x_domain, box.left, box.right)
    yr = _Ruler(y_domain, box.bottom, box.top)
    x_ticks = _ticks(x_domain, max(2, int(box.width / 90)))
    body = [
        _frame_start(chart_id, box),
        *(_reference(r, yr, box, vertical=False) for r in references if r.at is None),
        _grid(box, [xr.t_px(t.t) for t in x_ticks], [yr.t_px(t.t) for t in y_ticks]),
        *(_reference(r, yr, box, vertical=False) for r in references if r.at is not None),
        _axes(box, xr, x_ticks, yr, y_ticks, x.label, y.label, height),
        f'<g class="data" clip-path="url(#{chart_id}-clip)">',
    ]
    total = 0
    for k, s in enumerate(series):
        shown = [xr.holds(m.x) and yr.holds(m.y) for m in s.marks]
        drawn = sum(shown)
        if s.style is SeriesStyle.POINTS:
            content = "".join(
                _point(s.name, m, x, y, xr, yr) for m, ok in zip(s.marks, shown, strict=True) if ok
            )
        else:
            content = _series_path(s, shown, xr, yr)
        body.append(_series_group(s, k, drawn, len(s.marks) - drawn, content))
        total += drawn
    body.append("</g>")
    if total == 0:  # explicit bounds that hold none of the data
        body.append(
            f'<text class="nodata" x="{_px(box.left + box.width / 2)}" '
            f'y="{_px(box.top + box.height / 2)}" dy=".35em" text-anchor="middle">'
            "no data in this range</text>"
        )
    body.append(_legend(rows, 12, 6))
    return _figure(chart_id, "xy", title, width, height, "".join(body))


def forest_chart(
    chart_id: str,
    title: str,
    rows: Sequence[ForestRow],
    x: Axis,
    references: Sequence[Reference] = (),
    *,
    width: int = 760,
) -> str:
    """A forest plot: one row per estimate, top to bottom in the order given.

    Each row: its label at the left, a circle at `value` and a line over
    [low, high]; `references` are vertical (a line at 1.0, the A/A band). The
    height follows from the number of rows (22 px a row). Never raises on data.
    Raises ValueError: a bad `chart_id`.
    """
    _check_id(chart_id)
    values = [v for r in rows for v in (r.value, r.low, r.high) if v is not None]
    domain = _domain(x, values, references, require=[r.value for r in rows])
    legend_rows = _legend_rows(_reference_items(references, x.scale), width - 24)
    row_h = 22
    top = 10 + 18 * len(legend_rows)
    height = top + row_h * max(len(rows), 1) + 44
    if domain is None:
        return _no_data(
            chart_id, "forest", title, width, height, [_rows_group(0, len(rows), "")], len(rows)
        )
    label_w = _label_width([r.label for r in rows], width)
    box = _Box(label_w, top, width - label_w - 18, row_h * len(rows))
    xr = _Ruler(domain, box.left, box.right)
    ticks = _ticks(domain, max(2, int(box.width / 90)))
    out = [_frame_start(chart_id, box), _stripes(len(rows), box.top, row_h, width)]
    out += [_reference(r, xr, box, vertical=True) for r in references if r.at is None]
    out.append(_grid(box, [xr.t_px(t.t) for t in ticks], []))
    out += [_reference(r, xr, box, vertical=True) for r in references if r.at is not None]
    out.append(_axes(box, xr, ticks, None, [], x.label, None, height))
    drawn = 0
    row_marks = []
    for i, r in enumerate(rows):
        cy = box.top + (i + 0.5) * row_h
        shown = r.value is not None and xr.holds(r.value)
        drawn += shown
        hover = r.title or f"{r.label}: {_interval_text(x, r.value, r.low, r.high)}"
        parts = [
            _row_label(r.label, label_w, cy),
            _interval(r.low, r.high, xr, cy, chart_id),
        ]
        if shown and r.value is not None:
            parts.append(
                f'<circle class="{_mark_class(r.kind)}" cx="{_px(xr.px(r.value))}" '
                f'cy="{_px(cy)}" r="4"{_num_attr("value", r.value)}/>'
            )
        else:
            parts.append(_missing_text(box, cy, r.value))
        row_marks.append(
            f'<g class="{_row_class(r.kind, r.colour)}"{_attr("data-label", r.label)}'
            f"{_kind_attr(r.kind)}{_num_attr('value', r.value)}{_data_attrs(r.data)}>"
            f"<title>{_esc(hover)}</title>{''.join(parts)}</g>"
        )
    out.append(_rows_group(drawn, len(rows) - drawn, "".join(row_marks)))
    out.append(_legend(legend_rows, 12, 6))
    return _figure(chart_id, "forest", title, width, height, "".join(out))


def bar_chart(
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    x: Axis,
    references: Sequence[Reference] = (),
    *,
    base: float = 0.0,
    width: int = 760,
) -> str:
    """Horizontal bars from `base` to each value, top to bottom in the order given.

    `base`: where bars start, in x's units (0 for importances, 1.0 for gains
    on a log axis); a base not drawable on the axis starts bars at the plot's
    left edge. An interval is drawn over the bar; a note on a line under it
    (rows are then 38 px, else 22). `references` are vertical. Never raises on
    data. Raises ValueError: a bad `chart_id`.
    """
    _check_id(chart_id)
    values = [v for b in bars for v in (b.value, b.low, b.high) if v is not None]
    if x.low is None and x.scale is Scale.LINEAR and all(v >= base for v in values):
        x = replace(x, low=base)  # bars stand on the axis, not on a margin before it
    domain = _domain(x, [*values, base], references, require=[b.value for b in bars])
    legend_rows = _legend_rows(_reference_items(references, x.scale), width - 24)
    row_h = 38 if any(b.note for b in bars) else 22
    top = 10 + 18 * len(legend_rows)
    height = top + row_h * max(len(bars), 1) + 44
    if domain is None:
        return _no_data(
            chart_id, "bar", title, width, height, [_rows_group(0, len(bars), "")], len(bars)
        )
    label_w = _label_width([b.label for b in bars], width)
    box = _Box(label_w, top, width - label_w - 18, row_h * len(bars))
    xr = _Ruler(domain, box.left, box.right)
    ticks = _ticks(domain, max(2, int(box.width / 90)))
    base_px = xr.px(base) if xr.holds(base) else None
    start = box.left if base_px is None else base_px
    out = [_frame_start(chart_id, box), _stripes(len(bars), box.top, row_h, width)]
    out += [_reference(r, xr, box, vertical=True) for r in references if r.at is None]
    out.append(_grid(box, [xr.t_px(t.t) for t in ticks], []))
    out.append(_axes(box, xr, ticks, None, [], x.label, None, height))
    drawn = 0
    row_marks = []
    note_chars = int(box.width / (_CHAR * 11 / _FONT))
    for i, b in enumerate(bars):
        cy = box.top + i * row_h + 11
        shown = xr.holds(b.value)
        drawn += shown
        hover = b.title or f"{b.label}: {_interval_text(x, b.value, b.low, b.high)}"
        if b.note:
            hover += f"\n{b.note}"
        parts = [_row_label(b.label, label_w, cy)]
        if shown:
            # Both edges rounded first, so that x + width is the value's pixel exactly.
            edges = sorted((round(start, 1), round(xr.px_or_edge(b.value), 1)))
            parts.append(
                f'<rect class="bar{_kind_suffix("bar", b.kind)}" x="{_px(edges[0])}" '
                f'y="{_px(cy - 6)}" width="{_px(edges[1] - edges[0])}" height="12"'
                f"{_attr('data-label', b.label)}{_num_attr('value', b.value)}/>"
            )
            parts.append(_interval(b.low, b.high, xr, cy, chart_id))
        else:
            parts.append(_missing_text(box, cy, None))
        if b.note:
            parts.append(
                f'<text class="note" x="{_px(box.left)}" y="{_px(cy + 18)}" dy=".35em">'
                f"{_esc(_cut(b.note, note_chars))}</text>"
            )
        row_marks.append(
            f'<g class="{_row_class(b.kind, b.colour)}"{_attr("data-label", b.label)}'
            f"{_kind_attr(b.kind)}{_num_attr('value', b.value)}{_data_attrs(b.data)}>"
            f"<title>{_esc(hover)}</title>{''.join(parts)}</g>"
        )
    out.append(_rows_group(drawn, len(bars) - drawn, "".join(row_marks)))
    out += [_reference(r, xr, box, vertical=True) for r in references if r.at is not None]
    out.append(_legend(legend_rows, 12, 6))
    return _figure(chart_id, "bar", title, width, height, "".join(out))


def parallel_chart(
    chart_id: str,
    title: str,
    axes: Sequence[ParallelAxis],
    lines: Sequence[ParallelLine],
    *,
    colour_label: str = "",
    width: int = 760,
    height: int = 360,
) -> str:
    """Parallel coordinates: one vertical axis per knob, one polyline per line.

    Axes are spread evenly left to right in the order given; a numeric axis
    runs from its lowest value (bottom) to its highest, a categorical one lists
    its categories from the bottom up. Under every axis that needs it, an
    "unset" position takes the lines without a drawable value there (chosen
    over a gap: a knob left at its default is a setting, and the line stays one
    path one can follow). Lines are coloured by `colour_value` on `SEQUENTIAL`
    and drawn lowest value first, so the best lie on top; a key under the chart
    names `colour_label` and the range. Never raises on data. Raises ValueError:
    a bad `chart_id`.
    """
    _check_id(chart_id)
    if not axes or not lines:
        return _no_data(chart_id, "parallel", title, width, height, [], len(lines))
    gap = (width - 48) / max(len(axes) - 1, 1)
    name_w = max(_text_width(a.name, 11) for a in axes)
    staggered = len(axes) > 1 and name_w > gap - 8
    left = max(24.0, _text_width(axes[0].name, 11) / 2 + 6)
    right = max(64.0, _text_width(axes[-1].name, 11) / 2 + 6)
    top = 44 if staggered else 30
    box = _Box(left, top, width - left - right, height - top - 76)
    unset_y = box.bottom + 22
    placed = [_place_axis(a, lines, box) for a in axes]
    xs = [box.left + i * box.width / max(len(axes) - 1, 1) for i in range(len(axes))]
    if len(axes) == 1:
        xs = [box.left + box.width / 2]
    out = [f'<rect class="plot-area" x="0" y="0" width="{width}" height="{height}"/>']
    axis_marks = []
    for i, (a, p) in enumerate(zip(axes, placed, strict=True)):
        name_y = 14 if not staggered or i % 2 == 0 else 28
        used = any(p.position(ln.values.get(a.name)) is None for ln in lines)
        axis_marks.append(_parallel_axis(a, p, xs[i], name_y, box, unset_y if used else None))
    finite = [ln.colour_value for ln in lines if math.isfinite(ln.colour_value)]
    c_low, c_high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    order = sorted(
        range(len(lines)),
        key=lambda k: (math.isfinite(lines[k].colour_value), _finite_or(lines[k].colour_value)),
    )
    paths = []
    for k in order:
        ln = lines[k]
        points = []
        missing = 0
        for a, p, ax in zip(axes, placed, xs, strict=True):
            py = p.position(ln.values.get(a.name))
            if py is None:
                missing += 1
                py = unset_y
            points.append(f"{_px(ax)} {_px(py)}")
        stop = _stop(ln.colour_value, c_low, c_high)
        hover = ln.title or _line_text(axes, ln)
        paths.append(
            f'<path class="pline {stop}"{_num_attr("colour", ln.colour_value)} '
            f'data-missing="{missing}"{_data_attrs(ln.data)} d="M{"L".join(points)}">'
            f"<title>{_esc(hover)}</title></path>"
        )
    out.append(f'<g class="lines" data-count="{len(lines)}">{"".join(paths)}</g>')
    out += axis_marks  # after the lines: their labels stay readable over them
    out.append(_colour_key(colour_label, c_low, c_high, finite, box, height))
    return _figure(chart_id, "parallel", title, width, height, "".join(out))


# -- scales and ticks


def _forward(scale: Scale, value: float) -> float | None:
    """`value` in the scale's own linear units, or None when it cannot be drawn."""
    if not math.isfinite(value):
        return None
    if scale is Scale.LINEAR:
        return float(value)
    if scale is Scale.INVERSE_PERCENTILE:
        return -math.log10(1 - value / 100) if 0 <= value < 100 else None
    if value <= 0:
        return None
    return math.log2(value) if scale is Scale.LOG2 else math.log10(value)


def _backward(scale: Scale, t: float) -> float:
    if scale is Scale.LINEAR:
        return t
    if scale is Scale.LOG2:
        return math.pow(2, t)
    if scale is Scale.LOG10:
        return math.pow(10, t)
    return 100 * (1 - math.pow(10, -t))


@dataclass(frozen=True, slots=True)
class _Domain:
    """An axis's extent in its scale's linear units (`_forward`)."""

    axis_scale: Scale
    low: float
    high: float
    bytes_ticks: bool = False


def _domain(
    axis: Axis,
    values: Iterable[float],
    references: Sequence[Reference] = (),
    require: Iterable[float | None] | None = None,
) -> _Domain | None:
    """The extent of the drawable `values` (and references), with a 5% margin each side.

    None when nothing the chart must draw (`require`, else `values`) is drawable.
    """
    scale = axis.scale
    ts = [t for v in values if (t := _forward(scale, v)) is not None]
    needed = ts if require is None else [_forward(scale, v) for v in require if v is not None]
    if not any(t is not None for t in needed):
        return None
    refs = [v for r in references for v in (r.at, r.low, r.high) if v is not None]
    ts += [t for v in refs if (t := _forward(scale, v)) is not None]
    low = _forward(scale, axis.low) if axis.low is not None else None
    high = _forward(scale, axis.high) if axis.high is not None else None
    pool = ts + [t for t in (low, high) if t is not None]
    data_low, data_high = min(pool), max(pool)
    span = data_high - data_low
    if span > 0:
        pad = span * 0.05
    else:
        pad = {Scale.LOG2: 0.5, Scale.LOG10: 0.1, Scale.INVERSE_PERCENTILE: 0.25}.get(
            scale, max(abs(data_low) * 0.1, 1.0)
        )
    if low is None:
        low = data_low - pad
        if scale is Scale.INVERSE_PERCENTILE:
            low = max(low, 0.0)  # no percentile below 0
    if high is None:
        high = data_high + pad
    if high <= low:
        high = low + pad
    return _Domain(scale, low, high, axis.bytes_ticks)


@dataclass(frozen=True, slots=True)
class _Tick:
    t: float  # position in the scale's linear units
    value: float  # in the data's units
    label: str


def _ticks(domain: _Domain, room: int) -> list[_Tick]:
    """At most about `room` ticks inside `domain`, labelled for its scale."""
    scale, low, high = domain.axis_scale, domain.low, domain.high
    if scale is Scale.LINEAR:
        return _linear_ticks(low, high, room, Scale.LINEAR, domain.bytes_ticks)
    if scale is Scale.LOG2:
        chosen = _every(low, high, (1, 2, 4, 10, 20, 40, 100), room)
        if len(chosen) >= 2:
            return [_Tick(e, 2.0**e, _value_label(domain, 2.0**e)) for e in chosen]
    elif scale is Scale.LOG10:
        short = [
            m * 10.0**k
            for k in range(math.floor(low), math.ceil(high) + 1)
            for m in (1, 2, 5)
            if low - _EPS <= math.log10(m) + k <= high + _EPS
        ]
        if 2 <= len(short) <= room:
            return [_Tick(math.log10(v), _clean(v), _plain(_clean(v))) for v in short]
        chosen = _every(low, high, (1, 2, 5, 10, 20, 50), room)
        if len(chosen) >= 2:
            return [_Tick(e, 10.0**e, _plain(10.0**e)) for e in chosen]
    else:
        chosen = _every(low, high, (1, 2, 3, 4, 5), room)
        median = math.log10(2)
        dense = len(chosen) < 2 or chosen[1] - chosen[0] == 1
        if dense and len(chosen) < room and low - _EPS <= median <= high + _EPS:
            chosen = sorted([*chosen, math.log10(2)])  # 50%: the median, where spectra start
        if len(chosen) >= 2:
            return [_Tick(t, _backward(scale, t), _percentile_label(t)) for t in chosen]
    # A range too short for the scale's own ticks: linear nice ticks on the log scale.
    return [
        tick
        for tick in _linear_ticks(
            _backward(scale, low), _backward(scale, high), room, scale, domain.bytes_ticks
        )
        if low - _EPS <= tick.t <= high + _EPS
    ]


def _linear_ticks(low: float, high: float, room: int, scale: Scale, as_bytes: bool) -> list[_Tick]:
    """Ticks at multiples of a nice step (1, 2 or 5 x 10^k) between `low` and `high`."""
    raw = (high - low) / max(room, 1)
    if not raw > 0:
        return []
    magnitude = 10.0 ** math.floor(math.log10(raw))
    steps = [m * magnitude for m in (0.1, 0.2, 0.5, 1, 2, 5, 10)]
    k = next(k for k, step in enumerate(steps) if step >= raw * (1 - _EPS))
    # Fewer than three ticks say little: a finer step then (at most two notches).
    finest = k - 2
    while k > finest and _count(low, high, steps[k]) < 3:
        k -= 1
    step = steps[k]
    decimals = max(0, -math.floor(math.log10(step) + _EPS))
    ticks = []
    for i in range(math.ceil(low / step - _EPS), math.floor(high / step + _EPS) + 1):
        value = _clean(i * step)
        t = _forward(scale, value)
        if t is None:
            continue
        if as_bytes:
            label = _bytes_label(value)
        elif scale is Scale.INVERSE_PERCENTILE:
            label = f"{value:.{decimals}f}%"
        else:
            label = f"{value:,.{decimals}f}"
        ticks.append(_Tick(t, value, label))
    return ticks


def _count(low: float, high: float, step: float) -> int:
    return math.floor(high / step + _EPS) - math.ceil(low / step - _EPS) + 1


def _every(low: float, high: float, steps: Sequence[int], room: int) -> list[float]:
    """The whole numbers in [low, high] that are multiples of the first of `steps`
    giving at most `room` of them (of the last step if none does)."""
    whole = range(math.ceil(low - _EPS), math.floor(high + _EPS) + 1)
    chosen: list[float] = []
    for step in steps:
        chosen = [float(e) for e in whole if e % step == 0]
        if len(chosen) <= room:
            break
    return chosen


def _clean(value: float) -> float:
    """`value` without float noise (0.30000000000000004 -> 0.3) and without a negative zero."""
    return float(f"{value:.12g}") + 0.0


def _plain(value: float) -> str:
    """A tick number without an exponent for whole numbers: "1,048,576", "0.125"."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _bytes_label(value: float) -> str:
    """A size in bytes in binary units: "512 B", "4 KiB", "1.5 MiB"."""
    for power, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if value >= 2**power:
            return f"{value / 2**power:.4g} {unit}"
    return f"{value:.4g} B"


def _percentile_label(t: float) -> str:
    """The percentile at position `t` of the percentile axis: 1 -> "90%", 3 -> "99.9%"."""
    if abs(t - round(t)) < _EPS:
        k = round(t)
        return f"{100 - 10.0 ** (2 - k):.{max(k - 2, 0)}f}%"
    return f"{_backward(Scale.INVERSE_PERCENTILE, t):.4g}%"


def _value_label(domain: _Domain, value: float) -> str:
    if domain.bytes_ticks:
        return _bytes_label(value)
    return _plain(_clean(value))


def _value_text(axis: Axis, value: float) -> str:
    """A datum for hover text, in the axis's terms: "64 KiB", "99.9%", "12,345", "1.042"."""
    if not math.isfinite(value):
        return str(value)
    if axis.bytes_ticks and value > 0:
        return _bytes_label(value)
    if axis.scale is Scale.INVERSE_PERCENTILE:
        return f"{value:.6g}%"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _interval_text(axis: Axis, value: float | None, low: float | None, high: float | None) -> str:
    text = "no value" if value is None else _value_text(axis, value)
    if low is not None and high is not None:
        text += f" [{_value_text(axis, low)}, {_value_text(axis, high)}]"
    return text


# -- geometry


@dataclass(frozen=True, slots=True)
class _Box:
    """The plot area, px."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height


@dataclass(frozen=True, slots=True)
class _Ruler:
    """Maps a domain onto pixels: its low end at `start`, its high end at `end`."""

    domain: _Domain
    start: float
    end: float

    def t_px(self, t: float) -> float:
        d = self.domain
        return self.start + (t - d.low) / (d.high - d.low) * (self.end - self.start)

    def holds(self, value: float | None) -> bool:
        """Whether `value` is drawable and inside the domain."""
        t = None if value is None else _forward(self.domain.axis_scale, value)
        span = self.domain.high - self.domain.low
        return (
            t is not None and self.domain.low - _EPS * span <= t <= self.domain.high + _EPS * span
        )

    def px(self, value: float) -> float:
        """The pixel of a drawable value (callers check `holds` or use `px_or_edge`)."""
        t = _forward(self.domain.axis_scale, value)
        assert t is not None, value
        return self.t_px(t)

    def px_or_edge(self, value: float) -> float:
        """The pixel of `value`; a value not drawable (too small on a log scale, or
        +/-inf) lands just beyond the matching edge, where the clip cuts it."""
        t = _forward(self.domain.axis_scale, value)
        if t is None:
            below = value <= 0 or value == -math.inf
            if self.domain.axis_scale is Scale.INVERSE_PERCENTILE:
                below = value < 0
            t = self.domain.low if below else self.domain.high
            return self.t_px(t) + (-4 if below else 4) * math.copysign(1, self.end - self.start)
        return self.t_px(t)


def _px(value: float) -> str:
    """A coordinate with one decimal, trailing ".0" dropped: "12.5", "40"."""
    text = f"{value:.1f}"
    text = text.removesuffix(".0")
    return "0" if text == "-0" else text


def _text_width(text: str, size: int = _FONT) -> float:
    return len(text) * _CHAR * size / _FONT


def _label_width(labels: Sequence[str], width: int) -> float:
    """Room for row labels at the left: the longest, within 12%..40% of the width."""
    longest = max((_text_width(label) for label in labels), default=0.0)
    return min(max(longest + 16, width * 0.12), width * 0.4)


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "\u2026"


# -- markup pieces


def _esc(text: str) -> str:
    return html.escape(text.translate(_FORBIDDEN))


def _attr(name: str, value: str) -> str:
    return f' {name}="{_esc(value)}"'


def _num(value: float) -> str:
    return f"{value:.6g}"


def _num_attr(name: str, value: float | None) -> str:
    """` data-NAME="1.0423"`, nothing for None or a non-finite value."""
    if value is None or not math.isfinite(value):
        return ""
    return f' data-{name}="{_num(value)}"'


def _data_attrs(data: Mapping[str, str]) -> str:
    return "".join(_attr(f"data-{key}", value) for key, value in sorted(data.items()))


def _kind_attr(kind: str) -> str:
    return f' data-kind="{kind}"' if kind else ""


def _kind_suffix(prefix: str, kind: str) -> str:
    return f" {prefix}-{kind}" if kind else ""


def _mark_class(kind: str) -> str:
    return "mark" + _kind_suffix("mark", kind)


def _row_class(kind: str, colour: int) -> str:
    return f"row{_kind_suffix('row', kind)} c{colour % len(CATEGORICAL)}"


def _colour(colour: int | None, position: int) -> int:
    return (position if colour is None else colour) % len(CATEGORICAL)


def _figure(chart_id: str, kind: str, title: str, width: int, height: int, body: str) -> str:
    return (
        f'<figure id="{chart_id}" class="chart chart-{kind}" data-chart="{kind}">'
        f"<figcaption>{_esc(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img"{_attr("aria-label", title)}>'
        f"{body}</svg></figure>"
    )


def _no_data(
    chart_id: str, kind: str, title: str, width: int, height: int, groups: list[str], omitted: int
) -> str:
    detail = f" ({omitted} not drawable on this scale)" if omitted else ""
    body = (
        f'<rect class="plot-area" x="0" y="0" width="{width}" height="{height}"/>'
        f'<text class="nodata" x="{width / 2:g}" y="{height / 2:g}" dy=".35em" '
        f'text-anchor="middle">no data{detail}</text>' + "".join(groups)
    )
    return _figure(chart_id, kind, title, width, height, body)


def _frame_start(chart_id: str, box: _Box) -> str:
    # The clip is 4 px wider than the plot so a mark on the edge shows whole,
    # while a whisker or bar that runs off the axis is cut near it.
    return (
        f'<defs><clipPath id="{chart_id}-clip"><rect x="{_px(box.left - 4)}" '
        f'y="{_px(box.top - 4)}" width="{_px(box.width + 8)}" height="{_px(box.height + 8)}"/>'
        f"</clipPath></defs>"
        f'<rect class="plot-area" x="{_px(box.left)}" y="{_px(box.top)}" '
        f'width="{_px(box.width)}" height="{_px(box.height)}"/>'
    )


def _grid(box: _Box, xs: Sequence[float], ys: Sequence[float]) -> str:
    d = "".join(f"M{_px(x)} {_px(box.top)}V{_px(box.bottom)}" for x in xs)
    d += "".join(f"M{_px(box.left)} {_px(y)}H{_px(box.right)}" for y in ys)
    return f'<path class="grid" d="{d}"/>' if d else ""


def _axes(
    box: _Box,
    xr: _Ruler,
    x_ticks: Sequence[_Tick],
    yr: _Ruler | None,
    y_ticks: Sequence[_Tick],
    x_label: str,
    y_label: str | None,
    height: int,
) -> str:
    """The axis lines with tick marks, tick labels and axis labels."""
    d = f"M{_px(box.left)} {_px(box.top)}V{_px(box.bottom)}H{_px(box.right)}"
    d += "".join(f"M{_px(xr.t_px(t.t))} {_px(box.bottom)}v4" for t in x_ticks)
    out = []
    out.append(
        '<g class="ticks-x" text-anchor="middle">'
        + "".join(
            f'<text class="tick" x="{_px(xr.t_px(t.t))}" y="{_px(box.bottom + 16)}"'
            f"{_num_attr('value', t.value)}>{_esc(t.label)}</text>"
            for t in x_ticks
        )
        + "</g>"
    )
    out.append(
        f'<text class="axis-label" x="{_px(box.left + box.width / 2)}" y="{height - 8}" '
        f'text-anchor="middle">{_esc(x_label)}</text>'
    )
    if yr is not None:
        d += "".join(f"M{_px(box.left)} {_px(yr.t_px(t.t))}h-4" for t in y_ticks)
        out.append(
            '<g class="ticks-y" text-anchor="end">'
            + "".join(
                f'<text class="tick" x="{_px(box.left - 7)}" y="{_px(yr.t_px(t.t))}" dy=".35em"'
                f"{_num_attr('value', t.value)}>{_esc(t.label)}</text>"
                for t in y_ticks
            )
            + "</g>"
        )
    if y_label is not None:
        out.append(
            f'<text class="axis-label" transform="translate(14 '
            f'{_px(box.top + box.height / 2)}) rotate(-90)" text-anchor="middle">'
            f"{_esc(y_label)}</text>"
        )
    return f'<path class="axis" d="{d}"/>' + "".join(out)


def _reference(r: Reference, ruler: _Ruler, box: _Box, *, vertical: bool) -> str:
    """A reference line (`r.at`) or band (`r.low`..`r.high`) across the plot area: across
    its height at an x of `ruler` when `vertical`, else across its width at a y."""
    hover = f"<title>{_esc(r.label)}</title>"
    if r.at is not None:
        if not ruler.holds(r.at):
            return ""
        at = _px(ruler.px(r.at))
        x1, y1, x2, y2 = (
            (at, _px(box.top), at, _px(box.bottom))
            if vertical
            else (_px(box.left), at, _px(box.right), at)
        )
        return (
            f'<line class="ref" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"'
            f"{_attr('data-label', r.label)}{_num_attr('value', r.at)}>{hover}</line>"
        )
    assert r.low is not None
    assert r.high is not None
    first, last = (box.left, box.right) if vertical else (box.top, box.bottom)
    low = round(min(max(ruler.px_or_edge(r.low), first), last), 1)
    high = round(min(max(ruler.px_or_edge(r.high), first), last), 1)
    # On a y ruler larger values lie higher up: smaller pixel values.
    start, size = (low, high - low) if vertical else (high, low - high)
    if size <= 0:
        return ""
    x, y, width, height = (
        (start, box.top, size, box.height) if vertical else (box.left, start, box.width, size)
    )
    return (
        f'<rect class="band" x="{_px(x)}" y="{_px(y)}" width="{_px(width)}" '
        f'height="{_px(height)}"{_attr("data-label", r.label)}'
        f"{_num_attr('low', r.low)}{_num_attr('high', r.high)}>{hover}</rect>"
    )


def _series_group(s: Series, position: int, drawn: int, omitted: int, content: str) -> str:
    return (
        f'<g class="series c{_colour(s.colour, position)}"{_attr("data-series", s.name)} '
        f'data-count="{drawn}" data-omitted="{omitted}" data-style="{s.style.value}">'
        f"{content}</g>"
    )


def _mark_title(name: str, m: Mark, x: Axis, y: Axis) -> str:
    if m.title:
        return m.title
    return f"{name}: x {_value_text(x, m.x)}, y {_interval_text(y, m.y, m.low, m.high)}"


def _point(name: str, m: Mark, x: Axis, y: Axis, xr: _Ruler, yr: _Ruler) -> str:
    cx, cy = _px(xr.px(m.x)), _px(yr.px(m.y))
    whisker = ""
    if m.low is not None and m.high is not None and not (math.isnan(m.low) or math.isnan(m.high)):
        whisker = (
            f'<line class="whisker" x1="{cx}" y1="{_px(yr.px_or_edge(m.low))}" '
            f'x2="{cx}" y2="{_px(yr.px_or_edge(m.high))}"/>'
        )
    return (
        f'{whisker}<circle class="{_mark_class(m.kind)}" cx="{cx}" cy="{cy}" r="3"'
        f"{_num_attr('x', m.x)}{_num_attr('y', m.y)}{_num_attr('low', m.low)}"
        f"{_num_attr('high', m.high)}{_kind_attr(m.kind)}{_data_attrs(m.data)}>"
        f"<title>{_esc(_mark_title(name, m, x, y))}</title></circle>"
    )


def _series_path(s: Series, shown: Sequence[bool], xr: _Ruler, yr: _Ruler) -> str:
    """One path through the marks that are `shown`; a mark left out breaks it."""
    d: list[str] = []
    hover: list[str] = []
    pen_down = False
    for m, ok in zip(s.marks, shown, strict=True):
        if not ok:
            pen_down = False
            continue
        px, py = _px(xr.px(m.x)), _px(yr.px(m.y))
        if not pen_down:
            d.append(f"M{px} {py}")
        elif s.style is SeriesStyle.STEP:
            d.append(f"H{px}V{py}")
        else:
            d.append(f"L{px} {py}")
        pen_down = True
        if m.title:
            hover.append(
                f'<circle class="hover" cx="{px}" cy="{py}" r="4"{_num_attr("x", m.x)}'
                f"{_num_attr('y', m.y)}{_data_attrs(m.data)}><title>{_esc(m.title)}</title>"
                "</circle>"
            )
    return (
        f'<path class="line"{_attr("data-series", s.name)} data-count="{sum(shown)}" '
        f'd="{"".join(d)}"><title>{_esc(s.name)}</title></path>' + "".join(hover)
    )


def _rows_group(drawn: int, omitted: int, content: str) -> str:
    return f'<g class="rows" data-count="{drawn}" data-omitted="{omitted}">{content}</g>'


def _stripes(rows: int, top: float, row_h: float, width: int) -> str:
    """A light band behind every other row, under the grid and the references."""
    d = "".join(
        f"M0 {_px(top + i * row_h)}h{width}v{_px(row_h)}h-{width}z" for i in range(1, rows, 2)
    )
    return f'<path class="stripe" d="{d}"/>' if d else ""


def _row_label(label: str, label_w: float, cy: float) -> str:
    chars = int((label_w - 12) / _CHAR)
    return (
        f'<text class="row-label" x="{_px(label_w - 8)}" y="{_px(cy)}" dy=".35em" '
        f'text-anchor="end">{_esc(_cut(label, chars))}</text>'
    )


def _interval(low: float | None, high: float | None, xr: _Ruler, cy: float, chart_id: str) -> str:
    """A row's interval as a horizontal line, cut by the clip where it runs off the axis."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return ""
    y = _px(cy)
    return (
        f'<line class="interval" x1="{_px(xr.px_or_edge(low))}" y1="{y}" '
        f'x2="{_px(xr.px_or_edge(high))}" y2="{y}"{_num_attr("low", low)}{_num_attr("high", high)} '
        f'clip-path="url(#{chart_id}-clip)"/>'
    )


def _missing_text(box: _Box, cy: float, value: float | None) -> str:
    words = "no value" if value is None else f"{_num(value)}: off the axis"
    return (
        f'<text class="missing" x="{_px(box.left + 6)}" y="{_px(cy)}" dy=".35em">'
        f"{_esc(words)}</text>"
    )


# -- legend


class _Swatch(enum.Enum):
    POINT = "point"
    LINE = "line"
    REF = "ref"
    BAND = "band"


@dataclass(frozen=True, slots=True)
class _LegendItem:
    label: str
    swatch: _Swatch
    colour: int = 0

    @property
    def width(self) -> float:
        return 22 + _text_width(self.label, 11) + 14


def _swatch_of(style: SeriesStyle) -> _Swatch:
    return _Swatch.POINT if style is SeriesStyle.POINTS else _Swatch.LINE


def _reference_items(references: Sequence[Reference], scale: Scale) -> list[_LegendItem]:
    items = []
    for r in references:
        values = [r.at] if r.at is not None else [r.low, r.high]
        if any(v is not None and _forward(scale, v) is not None for v in values):
            items.append(_LegendItem(r.label, _Swatch.REF if r.at is not None else _Swatch.BAND))
    return items


def _legend_rows(items: Sequence[_LegendItem], room: float) -> list[list[_LegendItem]]:
    """The items in rows no wider than `room` px, in order."""
    rows: list[list[_LegendItem]] = []
    used = room
    for item in items:
        if used + item.width > room and (not rows or rows[-1]):
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += item.width
    return rows


def _legend(rows: Sequence[Sequence[_LegendItem]], left: float, top: float) -> str:
    if not rows:
        return ""
    out = []
    for r, row in enumerate(rows):
        y = top + 18 * r + 6
        x = left
        for item in row:
            out.append(_legend_item(item, x, y))
            x += item.width
    return f'<g class="legend">{"".join(out)}</g>'


def _legend_item(item: _LegendItem, x: float, y: float) -> str:
    # Swatches have classes of their own, so that counting `.mark` or `.band` counts data only.
    if item.swatch is _Swatch.POINT:
        swatch = f'<circle class="swatch-point" cx="{_px(x + 8)}" cy="{_px(y)}" r="4"/>'
    elif item.swatch is _Swatch.LINE:
        swatch = f'<path class="swatch-line" d="M{_px(x)} {_px(y)}h16"/>'
    elif item.swatch is _Swatch.REF:
        swatch = f'<path class="swatch-ref" d="M{_px(x)} {_px(y)}h16"/>'
    else:
        swatch = f'<rect class="swatch-band" x="{_px(x)}" y="{_px(y - 5)}" width="16" height="10"/>'
    colour = f" c{item.colour}" if item.swatch in (_Swatch.POINT, _Swatch.LINE) else ""
    return (
        f'<g class="legend-item{colour}"{_attr("data-label", item.label)}>{swatch}'
        f'<text x="{_px(x + 22)}" y="{_px(y)}" dy=".35em">{_esc(item.label)}</text></g>'
    )


# -- parallel coordinates


@dataclass(frozen=True, slots=True)
class _PlacedAxis:
    """Where a parallel axis puts a value: a numeric ruler or category positions."""

    ruler: _Ruler | None
    categories: Mapping[str, float]
    ticks: tuple[_Tick, ...]

    def position(self, value: float | str | bool | None) -> float | None:
        """The y of `value`, or None when it goes to the "unset" position."""
        if value is None:
            return None
        if self.ruler is None:
            return self.categories.get(str(value))
        if isinstance(value, bool | str) or not self.ruler.holds(value):
            return None
        return self.ruler.px(value)


def _place_axis(a: ParallelAxis, lines: Sequence[ParallelLine], box: _Box) -> _PlacedAxis:
    if a.categories:
        n = len(a.categories)
        spots = {c: box.bottom - (i + 0.5) * box.height / n for i, c in enumerate(a.categories)}
        return _PlacedAxis(None, spots, ())
    numbers = [
        float(v)
        for ln in lines
        if isinstance(v := ln.values.get(a.name), int | float) and not isinstance(v, bool)
    ]
    domain = _domain(Axis(a.name, a.scale, bytes_ticks=a.bytes_ticks), numbers)
    if domain is None:
        return _PlacedAxis(None, {}, ())
    ruler = _Ruler(domain, box.bottom, box.top)
    return _PlacedAxis(ruler, {}, tuple(_ticks(domain, max(2, int(box.height / 36)))))


def _parallel_axis(
    a: ParallelAxis, p: _PlacedAxis, x: float, name_y: float, box: _Box, unset_y: float | None
) -> str:
    kind = "categorical" if a.categories else "numeric"
    d = f"M{_px(x)} {_px(box.top)}V{_px(box.bottom)}"
    labels = []
    if p.ruler is not None:
        for t in p.ticks:
            y = _px(p.ruler.t_px(t.t))
            d += f"M{_px(x)} {y}h4"
            labels.append(
                f'<text class="tick" x="{_px(x + 6)}" y="{y}" dy=".35em"'
                f"{_num_attr('value', t.value)}>{_esc(t.label)}</text>"
            )
    for name, y_pos in p.categories.items():
        d += f"M{_px(x)} {_px(y_pos)}h4"
        labels.append(
            f'<text class="category" x="{_px(x + 6)}" y="{_px(y_pos)}" dy=".35em"'
            f"{_attr('data-category', name)}>{_esc(name)}</text>"
        )
    if unset_y is not None:
        labels.append(
            f'<text class="missing" x="{_px(x + 6)}" y="{_px(unset_y)}" dy=".35em">unset</text>'
        )
        d += f"M{_px(x - 3)} {_px(unset_y)}h6"
    return (
        f'<g class="paxis"{_attr("data-axis", a.name)} data-kind="{kind}">'
        f'<path class="axis" d="{d}"/>'
        f'<text class="paxis-name" x="{_px(x)}" y="{_px(name_y)}" text-anchor="middle">'
        f"{_esc(a.name)}</text>{''.join(labels)}</g>"
    )


def _finite_or(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _stop(value: float, low: float, high: float) -> str:
    """The class of `value`'s colour: s0 (lowest) .. s5 (highest), s-none for NaN."""
    if not math.isfinite(value):
        return "s-none"
    if high <= low:
        return f"s{len(SEQUENTIAL) - 1}"
    k = int((value - low) / (high - low) * len(SEQUENTIAL))
    return f"s{min(max(k, 0), len(SEQUENTIAL) - 1)}"


def _line_text(axes: Sequence[ParallelAxis], line: ParallelLine) -> str:
    parts = []
    for a in axes:
        v = line.values.get(a.name)
        if v is None:
            shown = "unset"
        elif a.bytes_ticks and isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            shown = _bytes_label(float(v))
        elif isinstance(v, float):
            shown = f"{v:.4g}"
        else:
            shown = str(v)
        parts.append(f"{a.name}={shown}")
    return f"{_num(line.colour_value)}: " + ", ".join(parts)


def _colour_key(
    label: str, low: float, high: float, finite: Sequence[float], box: _Box, height: int
) -> str:
    """The sequential palette under the chart: its label, the lowest and the highest value."""
    if not finite:
        return ""
    y = height - 22
    x = box.left
    caption = f"colour: {label}" if label else "colour"
    out = [f'<text x="{_px(x)}" y="{_px(y)}" dy=".35em">{_esc(caption)}</text>']
    x += _text_width(caption) + 10
    out.append(f'<text class="tick" x="{_px(x)}" y="{_px(y)}" dy=".35em">{low:.4g}</text>')
    x += _text_width(f"{low:.4g}", 11) + 6
    for k in range(len(SEQUENTIAL)):
        out.append(
            f'<rect class="s{k}" x="{_px(x + 18 * k)}" y="{_px(y - 6)}" width="18" height="12"/>'
        )
    x += 18 * len(SEQUENTIAL) + 6
    out.append(f'<text class="tick" x="{_px(x)}" y="{_px(y)}" dy=".35em">{high:.4g}</text>')
    return f'<g class="colour-key">{"".join(out)}</g>'


# -- argument checks


def _check_id(chart_id: str) -> None:
    if not _ID.match(chart_id):
        raise ValueError(f"chart id {chart_id!r} is not [a-z][a-z0-9-]*")


def _check_kind(kind: str) -> None:
    if not _KIND.match(kind):
        raise ValueError(f"kind {kind!r} is not [a-z0-9-]*")


def _check_data(data: Mapping[str, str]) -> None:
    for key in data:
        if not _KEY.match(key):
            raise ValueError(f"data key {key!r} is not [a-z0-9-]+")
        if key in _RESERVED_KEYS:
            raise ValueError(f"data key {key!r} is one the chart writes itself")
