"""The shapes the dashboards share: a query, a chart with its table, a headline figure.

Services compute these (``services.reports`` for one clinic, ``services.platform_reports`` for
the platform); the pages draw each ``Chart`` as a plotly figure with the same numbers as a
table beside it and a CSV download of that table.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

GRAINS = ("day", "week", "month")
SOURCES = ("clinic_page", "directory")
# A cell describing fewer patients than this is never shown on a platform figure.
SMALL_CELL = 11
SUPPRESSED = "< 11"


@dataclass(frozen=True)
class ReportQuery:
    """What the clinic dashboard shows: clinic-local dates (inclusive) and filters.

    Case figures follow the cases *received* in the range (a cohort); message figures count the
    messages written in it.
    """

    date_from: str  # YYYY-MM-DD on the clinic's clock
    date_to: str  # YYYY-MM-DD, inclusive
    grain: str = "week"  # one of GRAINS
    concern_area: str = ""  # "" = every area
    source: str = ""  # "" or one of SOURCES


@dataclass(frozen=True)
class Stat:
    """A headline figure ("Cases received: 112")."""

    key: str
    label: str
    value: str
    hint: str = ""


@dataclass(frozen=True)
class Series:
    """One named line or bar group; ``None`` is a gap (a suppressed or undefined value)."""

    name: str
    values: list[float | None]


@dataclass(frozen=True)
class Chart:
    """A figure and its numbers: ``x`` labels the points, ``columns``/``rows`` are the table.

    ``kind`` is "bar", "stacked_bar", "line", "funnel" or "hbar" (horizontal bars for long
    labels). ``rows`` are display strings, exactly what the table and the CSV show.
    """

    key: str
    title: str
    kind: str
    x: list[str]
    series: list[Series]
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    x_title: str = ""
    y_title: str = ""

    @property
    def empty(self) -> bool:
        return not self.rows

    def csv_bytes(self) -> bytes:
        """The table as CSV (UTF-8 with a header row); cells that a spreadsheet would run as
        a formula are prefixed with an apostrophe."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([_cell(c) for c in self.columns])
        for row in self.rows:
            writer.writerow([_cell(c) for c in row])
        return out.getvalue().encode("utf-8")


# Characters a spreadsheet takes as the start of a formula (and their full-width forms, which
# some spreadsheets fold to them).
_FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    lead = text.lstrip(" \u3000")
    if lead[:1] in _FORMULA_START and not _numeric(text):
        return "'" + text
    return text


def _numeric(text: str) -> bool:
    """A plain number ("-12", "1,234.50", "+3.5"): what figures hold, never a formula."""
    digits = text.replace(",", "")
    try:
        value = float(digits)
    except ValueError:
        return False
    return value == value and value not in (float("inf"), float("-inf"))


@dataclass
class ClinicReport:
    """Everything the clinic dashboard shows for one query."""

    query: ReportQuery
    zone_caption: str  # "Times in Europe/London"
    stats: list[Stat] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    # The concern areas and sources present, for the filter menus.
    areas: list[str] = field(default_factory=list)


@dataclass
class PlatformReport:
    """What the platform dashboard shows: billing usage (per clinic, exact) and suppressed trends."""

    month_from: str  # YYYY-MM
    month_to: str
    usage: Chart
    trends: list[Chart] = field(default_factory=list)
