"""A report chart becomes the plotly figure the page draws: kinds, gaps, order, colours."""

from __future__ import annotations

from mi_portal.components.charts import PALETTE, chart_view, figure
from mi_portal.services.report_types import Chart, Series


def _chart(kind: str, *series: Series, x: list[str] | None = None) -> Chart:
    labels = x or ["Week of 2 Nov 2026", "Week of 9 Nov 2026", "Week of 16 Nov 2026"]
    return Chart(
        key="k",
        title="Cases received",
        kind=kind,
        x=labels,
        series=list(series),
        columns=["Period", "Cases"],
        rows=[[label, "1"] for label in labels],
        x_title="Week",
        y_title="Cases",
    )


def test_a_missing_value_stays_a_gap_not_a_zero() -> None:
    fig = figure(_chart("bar", Series("Cases", [3, None, 5])))
    (trace,) = fig["data"]
    assert trace["type"] == "bar" and trace["y"] == [3.0, None, 5.0]
    line = figure(_chart("line", Series("Cases", [3, None, 5])))["data"][0]
    assert line["y"] == [3.0, None, 5.0] and line["connectgaps"] is False


def test_period_labels_are_categories_never_parsed_as_dates() -> None:
    fig = figure(_chart("bar", Series("Cases", [1, 2, 3]), x=["Nov 2026", "Dec 2026", "Jan 2027"]))
    assert fig["layout"]["xaxis"]["type"] == "category"
    assert fig["data"][0]["x"] == ["Nov 2026", "Dec 2026", "Jan 2027"]


def test_week_captions_drop_their_prefix_on_the_axis_only() -> None:
    chart = _chart("bar", Series("Cases", [1, 2, 3]))
    assert figure(chart)["data"][0]["x"][0] == "2 Nov 2026"
    assert chart_view(chart, "")["rows"][0][0] == "Week of 2 Nov 2026"


def test_a_chart_whose_every_value_is_hidden_has_only_its_table() -> None:
    hidden = _chart("line", Series("Cases", [None, None, None]))
    view = chart_view(hidden, "")
    assert view["drawable"] is False and view["empty"] is False and view["rows"]
    assert chart_view(_chart("bar", Series("Cases", [0, 0, 1])), "")["drawable"] is True


def test_numbers_are_right_aligned_and_words_are_not() -> None:
    usage = Chart(
        key="usage", title="Usage", kind="stacked_bar", x=["2026-10"], series=[],
        columns=["Month", "Clinic", "Cases", "Share", "Value", "Median", "Hidden"],
        rows=[
            ["2026-10", "Lakeside", "5", "42.0 %", "$1,284.00", "5.2 h", "< 11"],
            ["2026-11", "Summit", "12", "—", "€ 3.50", "2 days", "14"],
        ],
    )  # fmt: skip
    assert chart_view(usage, "")["numeric"] == [False, False, True, True, True, True, True]


def test_several_series_group_or_stack_with_a_legend() -> None:
    two = (Series("Quoted (EUR)", [1, 2, 3]), Series("Accepted (EUR)", [0, 1, 2]))
    grouped = figure(_chart("bar", *two))
    stacked = figure(_chart("stacked_bar", *two))
    assert grouped["layout"]["barmode"] == "group" and stacked["layout"]["barmode"] == "stack"
    assert grouped["layout"]["showlegend"] is True
    assert [t["marker"]["color"] for t in grouped["data"]] == list(PALETTE[:2])
    single = figure(_chart("bar", Series("Cases", [1, 2, 3])))
    assert single["layout"]["showlegend"] is False


def test_horizontal_bars_list_the_largest_first_from_the_top() -> None:
    fig = figure(_chart("hbar", Series("Cases", [9, 4, 1]), x=["Acne", "Scars", "Teeth"]))
    (trace,) = fig["data"]
    assert trace["orientation"] == "h" and trace["y"] == ["Acne", "Scars", "Teeth"]
    assert trace["x"] == [9.0, 4.0, 1.0]
    assert fig["layout"]["yaxis"]["autorange"] == "reversed"


def test_a_funnel_shows_each_stage_against_the_first() -> None:
    fig = figure(
        _chart(
            "funnel",
            Series("Cases", [40, 30, 12, 5]),
            x=["Received", "In review", "Quoted", "Accepted"],
        )
    )
    (trace,) = fig["data"]
    assert trace["type"] == "funnel" and trace["x"] == [40.0, 30.0, 12.0, 5.0]
    assert "percent initial" in trace["textinfo"]


def test_an_empty_chart_has_no_figure_and_says_why() -> None:
    empty = Chart(
        key="received", title="Cases received", kind="bar", x=[], series=[],
        columns=["Period", "Cases"], rows=[],
    )  # fmt: skip
    view = chart_view(empty, "No cases received in this range.")
    assert view["empty"] is True and view["figure"] == {}
    assert view["empty_text"] == "No cases received in this range."
    full = chart_view(_chart("bar", Series("Cases", [1, 2, 3])), "")
    assert full["empty"] is False and full["figure"]["data"]
    assert full["rows"][0] == ["Week of 2 Nov 2026", "1"]


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_colour_stands_out_from_a_white_page() -> None:
    # WCAG 1.4.11: graphical objects need 3:1 against what is next to them.
    for colour in PALETTE:
        assert (1.05) / (_luminance(colour) + 0.05) >= 3.0, colour


def test_hidden_values_with_only_zeros_left_have_nothing_to_draw() -> None:
    trend = _chart("stacked_bar", Series("Email", [0, None, 0]), Series("SMS", [None, 0, 0]))
    assert chart_view(trend, "")["drawable"] is False
    shown = _chart("stacked_bar", Series("Email", [0, None, 12]), Series("SMS", [None, 0, 0]))
    assert chart_view(shown, "")["drawable"] is True
    # Nothing hidden: zeros are figures to draw (the clinic's charts).
    assert chart_view(_chart("bar", Series("Cases", [0, 0, 0])), "")["drawable"] is True


def test_only_tables_of_many_columns_say_they_scroll_on_a_phone() -> None:
    narrow = _chart("bar", Series("Cases", [1, 2, 3]))
    assert chart_view(narrow, "")["wide"] is False
    usage = Chart(
        key="usage", title="Usage", kind="stacked_bar", x=[], series=[],
        columns=["Month", "Clinic", "Cases", "Photos", "Bytes stored", "Emails sent"], rows=[],
    )  # fmt: skip
    assert chart_view(usage, "")["wide"] is True
