"""The SVG chart primitives: every figure parses as XML, and what it draws is what it was given.

Each test parses the markup with ElementTree and reads the drawing back: the
number of circles, paths and bars, their coordinates against the plot area and
the ticks, the data attributes a browser test counts, and the text.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from tuner._svg import (
    CATEGORICAL,
    CSS,
    SEQUENTIAL,
    Axis,
    Bar,
    ForestRow,
    Mark,
    ParallelAxis,
    ParallelLine,
    Reference,
    Scale,
    Series,
    SeriesStyle,
    bar_chart,
    forest_chart,
    parallel_chart,
    xy_chart,
)

KiB = 1024
MiB = 1024 * KiB


def parse(markup: str) -> ET.Element:
    """The figure as an element tree, SVG's namespace stripped from the tags."""
    root = ET.fromstring(markup)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def classed(root: ET.Element, tag: str, name: str) -> list[ET.Element]:
    return [e for e in root.iter(tag) if name in e.get("class", "").split()]


def one(root: ET.Element, tag: str, name: str) -> ET.Element:
    found = classed(root, tag, name)
    assert len(found) == 1, [ET.tostring(e) for e in found]
    return found[0]


def num(element: ET.Element, attribute: str) -> float:
    value = element.get(attribute)
    assert value is not None, (element.tag, element.attrib, attribute)
    return float(value)


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the plot area, px."""
    rect = one(root, "rect", "plot-area")
    left, top = num(rect, "x"), num(rect, "y")
    return left, top, left + num(rect, "width"), top + num(rect, "height")


def ticks(root: ET.Element, axis: str) -> dict[str, float]:
    """Tick label -> its position (x for the x axis, y for the y axis)."""
    group = one(root, "g", f"ticks-{axis}")
    return {t.text or "": num(t, axis) for t in group.iter("text")}


def series_group(root: ET.Element, name: str) -> ET.Element:
    found = [g for g in classed(root, "g", "series") if g.get("data-series") == name]
    assert len(found) == 1
    return found[0]


def texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter("text")]


def path_points(d: str) -> list[tuple[str, float, float]]:
    """("M" or "L", x, y) for each move or line command of a path."""
    return [(c, float(x), float(y)) for c, x, y in re.findall(r"([ML])(-?[\d.]+) (-?[\d.]+)", d)]


GAIN = Axis("gain (x defaults)")
TRIAL = Axis("trial")


def history(n: int) -> Series:
    marks = tuple(
        Mark(
            float(i),
            1 + 0.01 * i,
            low=1 + 0.01 * i - 0.03,
            high=1 + 0.01 * i + 0.04,
            kind="sampled",
            data={"trial": str(i)},
        )
        for i in range(n)
    )
    return Series("trials", marks)


# -- xy: what is drawn


def test_each_points_series_draws_one_circle_per_mark_in_its_own_group() -> None:
    root = parse(
        xy_chart(
            "history",
            "History",
            TRIAL,
            GAIN,
            [history(7), Series("confirmed", (Mark(2, 1.1), Mark(5, 1.05), Mark(6, 1.2)))],
        )
    )

    trials, confirmed = series_group(root, "trials"), series_group(root, "confirmed")
    assert len(classed(trials, "circle", "mark")) == 7
    assert len(classed(confirmed, "circle", "mark")) == 3
    assert (trials.get("data-count"), trials.get("data-omitted")) == ("7", "0")
    assert (confirmed.get("data-count"), confirmed.get("data-omitted")) == ("3", "0")
    circle = classed(trials, "circle", "mark")[4]
    assert circle.get("class") == "mark mark-sampled"
    assert (circle.get("data-x"), circle.get("data-y")) == ("4", "1.04")
    assert (circle.get("data-low"), circle.get("data-high")) == ("1.01", "1.08")
    assert (circle.get("data-kind"), circle.get("data-trial")) == ("sampled", "4")
    # Two series: a legend names both; colours differ.
    legend = [g.get("data-label") for g in classed(root, "g", "legend-item")]
    assert legend == ["trials", "confirmed"]
    assert trials.get("class") == "series c0"
    assert confirmed.get("class") == "series c1"


def test_marks_lie_inside_the_plot_area_and_keep_the_order_of_the_data() -> None:
    marks = (Mark(3, 0.9), Mark(10, 1.3), Mark(1, 1.1), Mark(7, 0.95))
    root = parse(xy_chart("c", "t", TRIAL, GAIN, [Series("s", marks)]))
    left, top, right, bottom = plot_area(root)

    circles = classed(root, "circle", "mark")
    drawn = [(num(c, "cx"), num(c, "cy")) for c in circles]
    for cx, cy in drawn:
        assert left < cx < right
        assert top < cy < bottom
    # Larger x to the right, larger y higher up (smaller cy), in proportion.
    by_x = sorted(zip(marks, drawn, strict=True), key=lambda pair: pair[0].x)
    assert [cx for _, (cx, _) in by_x] == sorted(cx for cx, _ in drawn)
    by_y = sorted(zip(marks, drawn, strict=True), key=lambda pair: pair[0].y)
    assert [cy for _, (_, cy) in by_y] == sorted((cy for _, cy in drawn), reverse=True)
    (cx1, _), (cx3, _), (cx10, _) = drawn[2], drawn[0], drawn[1]
    assert (cx3 - cx1) / (cx10 - cx1) == pytest.approx(2 / 9, abs=0.01)


def test_a_whisker_spans_low_to_high_through_its_mark() -> None:
    root = parse(
        xy_chart("c", "t", TRIAL, GAIN, [Series("s", (Mark(1, 1.1, 1.0, 1.4), Mark(2, 1.2)))])
    )
    whiskers = classed(root, "line", "whisker")
    assert len(whiskers) == 1  # the mark without an interval has none
    whisker = whiskers[0]
    circle = classed(root, "circle", "mark")[0]
    y_low, y_high, cy = num(whisker, "y1"), num(whisker, "y2"), num(circle, "cy")
    assert num(whisker, "x1") == num(whisker, "x2") == num(circle, "cx")
    assert y_low > cy > y_high  # low is drawn below the mark, high above
    # On a linear axis the mark splits the whisker as 1.1 splits [1.0, 1.4].
    assert (y_low - cy) / (y_low - y_high) == pytest.approx(0.25, abs=0.01)
    # The y ticks agree: the tick "1.0" is where the whisker's low end is.
    assert ticks(root, "y")["1.0"] == pytest.approx(y_low, abs=0.1)


def test_a_line_series_is_one_path_through_its_marks_and_a_step_series_holds_then_steps() -> None:
    line = Series("p99", tuple(Mark(i, 10 + i) for i in range(10)), SeriesStyle.LINE)
    best = Series(
        "best so far", (Mark(0, 1.0), Mark(3, 1.1), Mark(8, 1.25)), SeriesStyle.STEP, colour=6
    )
    root = parse(xy_chart("c", "t", TRIAL, Axis("ms"), [line, best]))

    p99 = series_group(root, "p99")
    path = one(p99, "path", "line")
    assert (path.get("data-series"), path.get("data-count")) == ("p99", "10")
    points = path_points(path.get("d", ""))
    assert [c for c, _, _ in points] == ["M"] + ["L"] * 9
    assert [x for _, x, _ in points] == sorted(x for _, x, _ in points)
    assert [y for _, _, y in points] == sorted((y for _, _, y in points), reverse=True)
    assert not list(p99.iter("circle"))  # no titles given: no hover targets

    step = one(series_group(root, "best so far"), "path", "line")
    assert step.get("data-count") == "3"
    assert re.fullmatch(r"M[\d.]+ [\d.]+H[\d.]+V[\d.]+H[\d.]+V[\d.]+", step.get("d", ""))
    assert series_group(root, "best so far").get("class") == "series c6"


def test_a_line_with_titled_marks_gets_hover_targets_at_its_vertices() -> None:
    marks = (Mark(50, 1.0, title="p50 1.0 ms"), Mark(90, 2.0), Mark(99, 5.0, title="p99 5 ms"))
    root = parse(
        xy_chart(
            "c",
            "t",
            Axis("percentile", Scale.INVERSE_PERCENTILE),
            Axis("ms"),
            [Series("winner", marks, SeriesStyle.LINE)],
        )
    )
    hovers = classed(root, "circle", "hover")
    assert [h.findtext("title") for h in hovers] == ["p50 1.0 ms", "p99 5 ms"]
    assert len(classed(root, "path", "line")) == 1


# -- scales


def test_a_bytes_axis_on_log2_reads_kib_and_mib_at_powers_of_two() -> None:
    x = Axis("read buffer", Scale.LOG2, bytes_ticks=True)
    marks = tuple(Mark(2.0**e, 1.0) for e in range(12, 21))  # 4 KiB .. 1 MiB
    root = parse(xy_chart("c", "t", x, GAIN, [Series("s", marks)]))

    x_ticks = ticks(root, "x")
    assert {"4 KiB", "64 KiB", "1 MiB"} <= set(x_ticks)
    # Equal steps for equal ratios: 4 KiB -> 64 KiB is as far as 64 KiB -> 1 MiB.
    assert x_ticks["64 KiB"] - x_ticks["4 KiB"] == pytest.approx(
        x_ticks["1 MiB"] - x_ticks["64 KiB"], abs=0.15
    )
    circles = classed(root, "circle", "mark")
    at_64k = [c for c in circles if c.get("data-x") == "65536"]
    assert num(at_64k[0], "cx") == pytest.approx(x_ticks["64 KiB"], abs=0.1)


def test_a_log2_axis_without_bytes_reads_plain_numbers() -> None:
    x = Axis("connections", Scale.LOG2)
    root = parse(xy_chart("c", "t", x, GAIN, [Series("s", (Mark(1, 1), Mark(1024, 1.1)))]))
    labels = set(ticks(root, "x"))
    assert {"1", "1,024"} <= labels
    assert all("KiB" not in label for label in labels)


def test_the_percentile_axis_reads_90_99_99_9_and_puts_p99_at_its_tick() -> None:
    x = Axis("percentile", Scale.INVERSE_PERCENTILE)
    marks = tuple(Mark(p, 1 + p / 100) for p in (50, 90, 99, 99.9, 99.99))
    root = parse(xy_chart("spectrum", "t", x, Axis("latency (ms)"), [Series("s", marks)]))

    x_ticks = ticks(root, "x")
    assert list(x_ticks) == ["50%", "90%", "99%", "99.9%", "99.99%"]
    p99 = next(c for c in classed(root, "circle", "mark") if c.get("data-x") == "99")
    assert num(p99, "cx") == pytest.approx(x_ticks["99%"], abs=0.1)
    # 90 -> 99 is as wide as 99 -> 99.9: one decade of 1/(1-p) each.
    assert x_ticks["99%"] - x_ticks["90%"] == pytest.approx(
        x_ticks["99.9%"] - x_ticks["99%"], abs=0.15
    )


def test_linear_ticks_are_nice_numbers() -> None:
    marks = (Mark(0, 0.93), Mark(1, 1.21))
    root = parse(xy_chart("c", "t", TRIAL, GAIN, [Series("s", marks)]))
    values = [float(t.get("data-value", "")) for t in one(root, "g", "ticks-y").iter("text")]
    assert len(values) >= 3
    step = values[1] - values[0]
    assert round(step, 9) in {0.05, 0.1}
    for value in values:
        assert round(value / step, 6) == round(value / step)


def test_a_short_plot_still_gets_three_linear_ticks() -> None:
    marks = (Mark(0, 0.93), Mark(1, 1.14))
    root = parse(xy_chart("c", "t", TRIAL, GAIN, [Series("s", marks)], height=220))
    assert len(ticks(root, "y")) >= 3


def test_a_short_range_on_a_log10_axis_still_gets_ticks() -> None:
    # 0.9 .. 1.25 holds only "1" of 1, 2, 5 x 10^k: linear nice ticks instead.
    root = parse(
        xy_chart(
            "c",
            "t",
            TRIAL,
            Axis("gain", Scale.LOG10),
            [Series("s", (Mark(0, 0.9), Mark(1, 1.25)))],
        )
    )
    labels = list(ticks(root, "y"))
    assert len(labels) >= 3
    assert "1.0" in labels


# -- what cannot be drawn


def test_values_a_log_axis_cannot_draw_are_left_out_and_counted() -> None:
    marks = (
        Mark(1, 2.0),
        Mark(2, 0.0),
        Mark(3, -1.0),
        Mark(4, math.nan),
        Mark(math.inf, 3.0),
        Mark(5, 4.0),
    )
    y = Axis("ms", Scale.LOG10)
    root = parse(xy_chart("c", "t", TRIAL, y, [Series("s", marks)]))
    group = series_group(root, "s")
    assert (group.get("data-count"), group.get("data-omitted")) == ("2", "4")
    assert [c.get("data-y") for c in classed(group, "circle", "mark")] == ["2", "4"]


def test_a_line_breaks_where_a_mark_cannot_be_drawn() -> None:
    marks = (Mark(1, 2.0), Mark(2, 3.0), Mark(3, 0.0), Mark(4, 2.5), Mark(5, 2.0))
    root = parse(
        xy_chart("c", "t", TRIAL, Axis("ms", Scale.LOG2), [Series("s", marks, SeriesStyle.LINE)])
    )
    path = one(root, "path", "line")
    assert [c for c, _, _ in path_points(path.get("d", ""))] == ["M", "L", "M", "L"]
    assert series_group(root, "s").get("data-omitted") == "1"


def test_marks_outside_explicit_bounds_are_left_out_and_a_long_whisker_is_clipped() -> None:
    y = Axis("gain", low=0.8, high=1.5)
    marks = (Mark(1, 1.1, low=0.5, high=2.0), Mark(2, 1.9), Mark(3, 0.7))
    root = parse(xy_chart("gains", "t", TRIAL, y, [Series("s", marks)]))
    group = series_group(root, "s")
    assert (group.get("data-count"), group.get("data-omitted")) == ("1", "2")
    _, top, _, bottom = plot_area(root)
    whisker = one(root, "line", "whisker")
    assert num(whisker, "y1") > bottom  # runs off the axis ...
    assert num(whisker, "y2") < top
    data = one(root, "g", "data")
    assert data.get("clip-path") == "url(#gains-clip)"  # ... and the clip cuts it


def test_no_series_an_empty_series_or_nothing_drawable_says_no_data() -> None:
    log = Axis("ms", Scale.LOG10)
    for series, y, omitted in (
        ([], GAIN, "0"),
        ([Series("empty", ())], GAIN, "0"),
        ([Series("zeros", (Mark(1, 0.0), Mark(2, -3.0)))], log, "2"),
    ):
        root = parse(xy_chart("c", "t", TRIAL, y, series))
        assert any(text.startswith("no data") for text in texts(root))
        assert not list(root.iter("circle"))
        for group in classed(root, "g", "series"):
            assert (group.get("data-count"), group.get("data-omitted")) == ("0", omitted)
    root = parse(xy_chart("c", "t", TRIAL, Axis("gain", low=2, high=3), [history(4)]))
    assert "no data in this range" in texts(root)
    assert series_group(root, "trials").get("data-omitted") == "4"
    root = parse(forest_chart("f", "t", [], GAIN))
    assert "no data" in texts(root)
    root = parse(bar_chart("b", "t", [Bar("x", math.nan)], GAIN))
    assert any(text.startswith("no data") for text in texts(root))
    root = parse(parallel_chart("p", "t", [ParallelAxis("a")], []))
    assert "no data" in texts(root)


# -- text


def test_titles_labels_and_data_are_escaped_as_text() -> None:
    nasty = "<b>&\"'"
    chart = xy_chart(
        "c",
        nasty,
        Axis(nasty),
        Axis(nasty),
        [Series(nasty, (Mark(1, 1, title=nasty, data={"trial": nasty}),)), Series("b", ())],
        [Reference(nasty, at=1.0)],
    )
    root = parse(chart)
    assert root.findtext("figcaption") == nasty
    assert not list(root.iter("b"))
    svg = next(root.iter("svg"))
    assert svg.get("aria-label") == nasty
    assert texts(root).count(nasty) >= 3  # both axis labels and the legend
    circle = one(root, "circle", "mark")
    assert circle.findtext("title") == nasty
    assert circle.get("data-trial") == nasty
    assert series_group(root, nasty).get("data-series") == nasty
    for rendered in (
        forest_chart("f", nasty, [ForestRow(nasty, 1.0, 0.9, 1.1, title=nasty)], Axis(nasty)),
        bar_chart("b", nasty, [Bar(nasty, 0.5, note=nasty)], Axis(nasty)),
        parallel_chart(
            "p",
            nasty,
            [ParallelAxis(nasty, categories=(nasty,))],
            [ParallelLine({nasty: nasty}, 1.0, nasty)],
        ),
    ):
        root = parse(rendered)
        assert root.findtext("figcaption") == nasty
        assert not list(root.iter("b"))
        assert nasty in texts(root)


def test_characters_xml_forbids_are_dropped() -> None:
    root = parse(xy_chart("c", "a\x00b\x1bc", TRIAL, GAIN, [Series("s\x07", (Mark(1, 1),))]))
    assert root.findtext("figcaption") == "abc"
    assert series_group(root, "s").get("data-count") == "1"


# -- forest


def test_forest_rows_keep_their_order_top_to_bottom_with_their_intervals() -> None:
    rows = [
        ForestRow("trial 12", 1.18, 1.10, 1.27, kind="trial", data={"trial": "12"}),
        ForestRow("trial 7", 1.05, 0.97, 1.14, kind="trial"),
        ForestRow("confirmed 12", 1.12, 1.08, 1.16, kind="confirmation", colour=2),
        ForestRow("trial 0 (defaults)", 1.0, 0.98, 1.02),
    ]
    references = [Reference("gain 1.0", at=1.0), Reference("A/A band", low=0.98, high=1.02)]
    root = parse(forest_chart("forest", "Gains", rows, Axis("gain", Scale.LOG10), references))

    groups = classed(root, "g", "row")
    assert [g.get("data-label") for g in groups] == [r.label for r in rows]
    circles = [one(g, "circle", "mark") for g in groups]
    cys = [num(c, "cy") for c in circles]
    assert cys == sorted(cys)  # first row on top
    for row, group, circle in zip(rows, groups, circles, strict=True):
        interval = one(group, "line", "interval")
        x_low, x_high, cx = num(interval, "x1"), num(interval, "x2"), num(circle, "cx")
        assert x_low < cx < x_high
        assert (interval.get("data-low"), interval.get("data-high")) == (
            f"{row.low:.6g}",
            f"{row.high:.6g}",
        )
        assert num(interval, "y1") == num(circle, "cy")
        label = next(t for t in group.iter("text") if "row-label" in t.get("class", ""))
        assert label.text == row.label
        assert num(label, "y") == num(circle, "cy")
    assert groups[0].get("data-trial") == "12"
    assert groups[2].get("class") == "row row-confirmation c2"
    # The reference line at 1.0 passes through the defaults' point; the band spans 0.98..1.02.
    ref = one(root, "line", "ref")
    assert num(ref, "x1") == num(circles[3], "cx")
    band = one(root, "rect", "band")
    interval = one(groups[3], "line", "interval")
    assert num(band, "x") == pytest.approx(num(interval, "x1"), abs=0.1)
    assert num(band, "x") + num(band, "width") == pytest.approx(num(interval, "x2"), abs=0.15)
    assert [g.get("data-label") for g in classed(root, "g", "legend-item")] == [
        "gain 1.0",
        "A/A band",
    ]
    assert one(root, "g", "rows").get("data-count") == "4"


def test_a_forest_row_without_a_value_keeps_its_place_and_says_so() -> None:
    rows = [ForestRow("a", 1.1, 1.0, 1.2), ForestRow("b", None), ForestRow("c", 0.9)]
    root = parse(forest_chart("f", "t", rows, GAIN))
    groups = classed(root, "g", "row")
    assert [len(classed(g, "circle", "mark")) for g in groups] == [1, 0, 1]
    assert "no value" in texts(groups[1])
    assert len(classed(groups[2], "line", "interval")) == 0
    rows_group = one(root, "g", "rows")
    assert (rows_group.get("data-count"), rows_group.get("data-omitted")) == ("2", "1")


# -- bars


def test_one_bar_per_value_with_lengths_in_proportion_and_notes_under_them() -> None:
    bars = [
        Bar("read_buffer_bytes", 0.6),
        Bar("reactor", 0.3, note="epoll beats select <always>"),
        Bar("tcp_nodelay", 0.1),
    ]
    root = parse(bar_chart("importance", "Importances", bars, Axis("importance")))
    rects = classed(root, "rect", "bar")
    assert [(r.get("data-label"), r.get("data-value")) for r in rects] == [
        ("read_buffer_bytes", "0.6"),
        ("reactor", "0.3"),
        ("tcp_nodelay", "0.1"),
    ]
    widths = [num(r, "width") for r in rects]
    assert widths[0] / widths[2] == pytest.approx(6, rel=0.02)
    assert {num(r, "x") for r in rects} == {plot_area(root)[0]}  # all stand on the axis at 0
    ys = [num(r, "y") for r in rects]
    assert ys == sorted(ys)
    note = next(t for t in root.iter("text") if t.get("class") == "note")
    assert note.text == "epoll beats select <always>"
    assert num(note, "y") > ys[1]


def test_gain_bars_start_at_the_base_and_carry_their_interval() -> None:
    bars = [Bar("raise backlog", 1.2, 1.1, 1.3, kind="better"), Bar("tiny buffer", 0.8, 0.7, 0.9)]
    axis = Axis("gain", Scale.LOG10)
    root = parse(bar_chart("folklore", "t", bars, axis, [Reference("1.0", at=1.0)], base=1.0))
    up, down = classed(root, "rect", "bar")
    ref_x = num(one(root, "line", "ref"), "x1")
    assert num(up, "x") == pytest.approx(ref_x, abs=0.1)  # grows right from 1.0
    assert num(down, "x") + num(down, "width") == pytest.approx(ref_x, abs=0.1)  # left of it
    assert up.get("class") == "bar bar-better"
    intervals = classed(root, "line", "interval")
    assert [(i.get("data-low"), i.get("data-high")) for i in intervals] == [
        ("1.1", "1.3"),
        ("0.7", "0.9"),
    ]
    assert num(intervals[0], "x1") < num(up, "x") + num(up, "width") < num(intervals[0], "x2")


# -- parallel coordinates


def test_parallel_chart_draws_one_path_per_line_through_numeric_and_categorical_axes() -> None:
    axes = [
        ParallelAxis("read_buffer_bytes", Scale.LOG2, bytes_ticks=True),
        ParallelAxis("reactor", categories=("select", "poll", "epoll")),
        ParallelAxis("tcp_nodelay", categories=("False", "True")),
    ]
    lines = [
        ParallelLine({"read_buffer_bytes": 4 * KiB, "reactor": "epoll", "tcp_nodelay": True}, 1.3),
        ParallelLine({"read_buffer_bytes": 64 * KiB, "reactor": "poll", "tcp_nodelay": False}, 1.0),
        ParallelLine({"reactor": "select", "tcp_nodelay": None}, 1.1, title="trial 9"),
    ]
    root = parse(parallel_chart("parallel", "Best quarter", axes, lines, colour_label="gain"))

    paths = classed(root, "path", "pline")
    assert len(paths) == 3
    # Lowest colour value first, so the best is drawn last, on top, darkest.
    assert [p.get("data-colour") for p in paths] == ["1", "1.1", "1.3"]
    assert [p.get("class") for p in paths] == ["pline s0", "pline s2", "pline s5"]
    axis_groups = classed(root, "g", "paxis")
    assert [g.get("data-axis") for g in axis_groups] == [a.name for a in axes]
    reactor = {
        t.get("data-category"): num(t, "y") for t in classed(axis_groups[1], "text", "category")
    }
    assert list(reactor) == ["select", "poll", "epoll"]
    assert reactor["select"] > reactor["poll"] > reactor["epoll"]  # first category at the bottom
    nodelay = {
        t.get("data-category"): num(t, "y") for t in classed(axis_groups[2], "text", "category")
    }
    by_colour = {p.get("data-colour"): path_points(p.get("d", "")) for p in paths}
    assert by_colour["1.3"][1][2] == reactor["epoll"]
    assert by_colour["1"][1][2] == reactor["poll"]
    assert by_colour["1.1"][1][2] == reactor["select"]
    assert by_colour["1.3"][2][2] == nodelay["True"]
    assert by_colour["1"][2][2] == nodelay["False"]
    # A knob not set goes to its axis's "unset" position, the same for every axis.
    unset = [num(t, "y") for t in classed(root, "text", "missing")]
    assert len(unset) == 2  # only the axes some line leaves unset show the position
    assert by_colour["1.1"][0][2] == by_colour["1.1"][2][2] == unset[0]
    assert [p.get("data-missing") for p in paths] == ["0", "2", "0"]
    assert paths[1].findtext("title") == "trial 9"
    # Sizes on the log2 axis: 64 KiB above 4 KiB, and its ticks read as sizes.
    assert by_colour["1"][0][2] < by_colour["1.3"][0][2]
    tick_labels = [t.text for t in classed(axis_groups[0], "text", "tick")]
    assert "4 KiB" in tick_labels
    assert "64 KiB" in tick_labels
    xs = [path_points(paths[0].get("d", ""))[i][1] for i in range(3)]
    assert xs == sorted(xs)


# -- the whole


def every_chart() -> list[str]:
    return [
        xy_chart(
            "history",
            "History",
            TRIAL,
            GAIN,
            [history(20), Series("best", (Mark(0, 1.0), Mark(19, 1.2)), SeriesStyle.STEP)],
            [Reference("gain 1.0", at=1.0), Reference("A/A band", low=0.97, high=1.03)],
        ),
        forest_chart(
            "forest",
            "Forest",
            [ForestRow("a", 1.1, 1.0, 1.2, kind="pruned"), ForestRow("b", 0.9)],
            GAIN,
            [Reference("gain 1.0", at=1.0), Reference("A/A band", low=0.97, high=1.03)],
        ),
        bar_chart("bars", "Bars", [Bar("a", 0.5, 0.4, 0.6, note="claim")], GAIN),
        parallel_chart(
            "parallel",
            "Parallel",
            [ParallelAxis("a"), ParallelAxis("b", categories=("x", "y"))],
            [ParallelLine({"a": float(k), "b": "xy"[k % 2]}, float(k)) for k in range(8)],
        ),
    ]


def test_the_same_input_gives_the_same_string() -> None:
    assert every_chart() == every_chart()


def test_every_class_a_chart_draws_with_has_a_rule_in_the_css() -> None:
    drawn: set[str] = set()
    for chart in every_chart():
        for element in parse(chart).iter():
            drawn |= set(element.get("class", "").split())
    styled = set(re.findall(r"\.([a-z][a-z0-9-]*)", CSS))
    # Structure-only classes: groups that carry data attributes, not looks.
    structural = {"chart-xy", "chart-forest", "chart-bar", "chart-parallel", "series", "data"}
    structural |= {"rows", "ticks-x", "ticks-y", "legend-item", "lines", "paxis", "colour-key"}
    structural |= {"row", "row-pruned", "mark-sampled", "hover"}
    assert drawn - styled - structural == set()
    for colour in (*CATEGORICAL, *SEQUENTIAL):
        assert colour in CSS


def test_a_chart_of_twenty_trials_is_a_few_kb_and_of_500_with_intervals_under_200_kb() -> None:
    small = xy_chart("h", "History", TRIAL, GAIN, [history(20)])
    large = xy_chart("h", "History", TRIAL, GAIN, [history(500)])
    assert len(small.encode()) < 12_000
    assert len(large.encode()) < 200_000
    assert series_group(parse(large), "trials").get("data-count") == "500"


# -- bad arguments


@pytest.mark.parametrize(
    "build",
    [
        lambda: xy_chart("Bad id", "t", TRIAL, GAIN, []),
        lambda: Mark(1, 1, kind="Not A Class"),
        lambda: Mark(1, 1, data={"x": "clashes with data-x"}),
        lambda: Mark(1, 1, data={"Trial": "upper case"}),
        lambda: ForestRow("a", 1.0, data={"label": "clashes"}),
        lambda: Axis("a", Scale.LINEAR, bytes_ticks=True),
        lambda: Axis("a", Scale.LOG2, low=0.0),
        lambda: Axis("a", low=2.0, high=1.0),
        lambda: Axis("a", Scale.INVERSE_PERCENTILE, high=100.0),
        lambda: Reference("both", at=1.0, low=0.9, high=1.1),
        lambda: Reference("neither"),
        lambda: Reference("half a band", low=0.9),
        lambda: ParallelAxis("p", Scale.INVERSE_PERCENTILE),
    ],
)
def test_a_bad_argument_raises_value_error(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=r"."):
        build()
