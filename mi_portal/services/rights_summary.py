"""The human-readable summary of an access package, as HTML and as a PDF, from one outline.

It says which categories of data the clinic holds about the requester, where each came from,
why it is used, who receives it, the period covered, which files the package holds, and what
was left out and why. Every value is escaped in the HTML; the PDF uses the DejaVu Sans font
shipped with the app (see ``quote_pdf``), with a fixed creation date.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from mi_portal.models import DataCategory
from mi_portal.services.quote_pdf import FONT, FONT_DIR
from mi_portal.services.rights_records import WITHHELD_REASONS, Holdings, Window

D = DataCategory
# No creation time in the file: the same package always gives the same summary bytes.
_FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
CATEGORY_TEXT: dict[str, tuple[str, str]] = {
    D.IDENTITY: (
        "Identity",
        "Your name and date of birth, and the name you typed to accept a quote.",
    ),
    D.CONTACT: (
        "Contact details and choices",
        "Your email address and phone number, and the "
        "choices you made about the privacy notice, text messages and marketing.",
    ),
    D.COMMERCIAL: ("Quotes and prices", "The amounts of the quotes the clinic prepared for you."),
    D.DEVICE_NETWORK: (
        "Device and network",
        "The internet address and browser details "
        "recorded when you sent the form, gave a consent or accepted a quote.",
    ),
    D.HEALTH_IMAGE: ("Photos", "The photos you sent; the original files are in the photos folder."),
    D.INFERENCE: ("Inferences", "Conclusions drawn about you."),
    D.SPECIAL_CATEGORY: (
        "Health details and messages",
        "Your concern and your answers on the "
        "form, the names of your photos, the messages between you and the "
        "clinic, staff notes and markers on your photos, and the treatments "
        "quoted.",
    ),
    D.USER_CONTENT: (
        "Other things written",
        "Reasons you gave, for example when declining a quote.",
    ),
}
PURPOSES = (
    "To assess the photos and details you sent and prepare the quote you asked for.",
    "To write to you about your request, by email and, if you agreed, by text message.",
    "To keep the records a clinic must keep, and to prove the consents you gave.",
    "To keep the service secure and prevent misuse.",
)
RECIPIENTS = (
    "The clinic, which decides how your data is used (the controller).",
    "The clinic's software platform, which stores and processes the data for the clinic "
    "(a processor) and does not use it for anything else.",
    "Email and text message delivery providers, which carry the messages sent to you.",
    "Your data is not sold, and it is not shared for advertising.",
)


@dataclass(frozen=True)
class Section:
    title: str
    lines: list[str]


def outline(
    clinic: str, reference: str, window: Window, found: Holdings, files: list[tuple[str, int]]
) -> list[Section]:
    """What the summary says, in order (both renderings use it)."""
    start = f"{window.start:%Y-%m-%d}" if window.start else "the first record"
    sections = [
        Section(
            "Your data held by " + clinic,
            [
                f"Request {reference}. This package covers the data the clinic collected about "
                f"you from {start} to {window.end:%Y-%m-%d} (the date of your request), and your "
                "patient record as it is now.",
            ],
        ),
    ]
    held: list[str] = []
    for category, records in sorted(found.by_category.items()):
        name, what = CATEGORY_TEXT.get(category, (category, ""))
        sources = ", ".join(sorted(found.sources.get(category, set())))
        held.append(
            f"{name} ({_records(len(records))}, in {category}.json): {what} Source: {sources}."
        )
    sections.append(Section("Categories of data held", held or ["No data is held."]))
    if found.cases:
        sections.append(
            Section("Your cases", [f"{label.capitalize()}" for label in found.cases.values()])
        )
    sections.append(Section("Why the clinic uses it", list(PURPOSES)))
    sections.append(Section("Who receives it", list(RECIPIENTS)))
    sections.append(
        Section("Files in this package", [f"{name} ({size:,} bytes)" for name, size in files])
    )
    sections.append(
        Section("Left out, and why", [WITHHELD_REASONS[k] for k in sorted(WITHHELD_REASONS)])
    )
    return sections


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def to_fragment(sections: list[Section]) -> str:
    """The outline as an HTML fragment (every value escaped): what the clinic's page shows."""
    e = html.escape
    parts = [
        f"<h1>{e(sections[0].title)}</h1>",
        *(f"<p>{e(line)}</p>" for line in sections[0].lines),
    ]
    for section in sections[1:]:
        parts.append(f"<h2>{e(section.title)}</h2><ul>")
        parts.extend(f"<li>{e(line)}</li>" for line in section.lines)
        parts.append("</ul>")
    return "\n".join(parts) + "\n"


def to_html(sections: list[Section]) -> str:
    """The fragment as a small standalone page (``summary.html`` in the package)."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(sections[0].title)}</title></head><body><main>\n"
        f"{to_fragment(sections)}</main></body></html>\n"
    )


def to_pdf(sections: list[Section]) -> bytes:
    """The outline as an A4 PDF."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_creation_date(_FIXED_DATE)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    for n, section in enumerate(sections):
        pdf.set_font(FONT, style="B", size=16 if n == 0 else 12)
        pdf.multi_cell(0, 8, section.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, size=10)
        for line in section.lines:
            pdf.multi_cell(
                0, 5, line if n == 0 else f"• {line}", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
        pdf.ln(3)
    return bytes(pdf.output())
