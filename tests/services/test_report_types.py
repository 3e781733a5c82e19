"""A chart's CSV: its table exactly, with nothing a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest

from mi_portal.services.report_types import Chart


def _chart(rows: list[list[str]]) -> Chart:
    return Chart(
        key="workload",
        title="Open cases",
        kind="hbar",
        x=[],
        series=[],
        columns=["Assignee", "Open cases", "Median age (days)"],
        rows=rows,
    )


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://x.test","y")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A2)",
        "  =1+1",  # a leading space does not stop a spreadsheet
        "\uff1d1+1",  # full-width equals sign
        "\t=1",
        "-inf",
        "+nan",
    ],
)
def test_cells_a_spreadsheet_would_run_are_quoted(name: str) -> None:
    rows = _read(_chart([[name, "3", "1.5"]]).csv_bytes())
    assert rows[1][0] == "'" + name
    assert rows[1][1:] == ["3", "1.5"]


@pytest.mark.parametrize(
    "value", ["-12", "+3.5", "1,234.50", "0", "42.0 %", "Dr. Ada Lovelace", "—"]
)
def test_figures_and_plain_text_are_kept_as_they_are(value: str) -> None:
    rows = _read(_chart([[value, "-1", "2"]]).csv_bytes())
    assert rows[0] == ["Assignee", "Open cases", "Median age (days)"]
    assert rows[1] == [value, "-1", "2"]


def test_an_empty_chart_is_its_header_alone() -> None:
    chart = _chart([])
    assert chart.empty
    assert _read(chart.csv_bytes()) == [["Assignee", "Open cases", "Median age (days)"]]
