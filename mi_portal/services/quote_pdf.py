"""A quote version as a PDF: the same ``QuoteDocument`` the pages show, so the same numbers.

Made with fpdf2 (pure Python, no system libraries) and the DejaVu Sans font shipped in
``mi_portal/fonts`` (Bitstream Vera licence, see the text file beside it), so "€", "−" and
accented names print as typed. Every amount is the document's own formatted string; nothing is
recomputed or reformatted here. The output carries a fixed creation date and no file
identifier: one version always gives the same bytes.

Staff fetch a version through a short link bound to their sign-in session (``staff_link``);
the patient through the quote page's own signed token. Both downloads are audited.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from mi_portal.db import tenant_session
from mi_portal.models import OPEN_QUOTE_STATUSES, Quote, QuoteStatus
from mi_portal.services import audit, patient_quotes, quotes, signed_links
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.permissions import Permission, check

# fpdf2 lists the characters a font lacks (a patient's or clinic's name, say) in a warning: no
# personal data in logs. Such characters are left out of the PDF; the page shows them.
logging.getLogger("fpdf.output").setLevel(logging.ERROR)
FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
FONT = "DejaVuSans"
STAFF_PURPOSE = "quote-pdf"
# Made when staff click "Download PDF" (like photo downloads); kept short, bound to the session.
STAFF_LINK_SECONDS = 300
STAFF_PATH = "/api/quotes"
PATIENT_PATH = "/api/q"
# fpdf2 writes a creation date unless given one; a fixed one keeps the bytes reproducible.
_FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
# Description, unit, quantity, unit price, discount, tax, amount (millimetres, A4 portrait).
_WIDTHS = (48, 18, 11, 26, 31, 20, 26)
_HEAD = ("Description", "Unit", "Qty", "Unit price", "Discount", "Tax", "Amount")


@dataclass(frozen=True)
class QuotePdf:
    filename: str
    data: bytes


def status_line(doc: quotes.QuoteDocument) -> str:
    """What the PDF says about a version that is no longer open ("" while it is)."""
    if doc.status in {s.value for s in OPEN_QUOTE_STATUSES}:
        return ""
    if doc.status == QuoteStatus.ACCEPTED.value and doc.accepted_name:
        return f"Accepted by {doc.accepted_name} on {doc.accepted_at}"
    return doc.status_label


def filename(doc: quotes.QuoteDocument) -> str:
    """``quote-<REF>-v<N>.pdf``, from characters that need no quoting in a header."""
    ref = "".join(c for c in doc.reference if c.isascii() and c.isalnum())[:16] or "case"
    return f"quote-{ref}-v{int(doc.version)}.pdf"


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.set_text_color(110)
        self.cell(0, 5, f"{self._footer_text} · page {self.page_no()}/{{nb}}", align=Align.C)

    def file_id(self) -> str:
        return ""  # no /ID: it would hash in the time


def _label_value(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font(FONT, size=10)
    pdf.set_text_color(90)
    pdf.cell(32, 6, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.set_text_color(0)
    pdf.multi_cell(0, 6, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _fit(pdf: FPDF, text: str, width: float, size: float) -> None:
    """Shrink the font until ``text`` fits on one line of ``width`` (amounts never wrap)."""
    while size > 5 and pdf.get_string_width(text) > width - 2 * pdf.c_margin:
        size -= 0.5
        pdf.set_font_size(size)


def _line_count(pdf: FPDF, width: float, line_h: float, text: str) -> int:
    lines = pdf.multi_cell(width, line_h, text, dry_run=True, output="LINES")
    return len(lines) if isinstance(lines, list) else 1


def _row(pdf: FPDF, cells: tuple[str, ...], *, bold: bool, shade: bool) -> None:
    """One table row. Words wrap (description, unit, tax); amounts are written with ``cell``,
    which keeps every character as given (``multi_cell`` turns no-break spaces, which locales
    put inside amounts, into plain ones)."""
    size, line_h = 8.5, 4.6
    style = "B" if bold else ""
    pdf.set_font(FONT, style=style, size=size)
    wrapped = {0, 1, 5}
    heights = [
        _line_count(pdf, w, line_h, text) * line_h
        for i, (w, text) in enumerate(zip(_WIDTHS, cells, strict=True))
        if i in wrapped
    ]
    row_h = max([line_h, *heights]) + 2
    if pdf.get_y() + row_h > pdf.page_break_trigger:
        pdf.add_page()
        if not bold:
            _row(pdf, _HEAD, bold=True, shade=True)
            pdf.set_font(FONT, style=style, size=size)
    x, y = pdf.l_margin, pdf.get_y()
    if shade:
        pdf.set_fill_color(232)
        pdf.rect(x, y, sum(_WIDTHS), row_h, style="F")
    for i, (w, text) in enumerate(zip(_WIDTHS, cells, strict=True)):
        pdf.set_xy(x, y + 1)
        if i in wrapped:
            pdf.multi_cell(w, line_h, text, align=Align.L)
        else:
            _fit(pdf, text, w, size)
            pdf.cell(w, line_h, text, align=Align.R)
            pdf.set_font_size(size)
        x += w
    pdf.set_draw_color(200)
    pdf.line(pdf.l_margin, y + row_h, pdf.l_margin + sum(_WIDTHS), y + row_h)
    pdf.set_xy(pdf.l_margin, y + row_h)


def _lines_table(pdf: FPDF, doc: quotes.QuoteDocument) -> None:
    _row(pdf, _HEAD, bold=True, shade=True)
    for line in doc.lines:
        cells = (
            line.description,
            line.unit_label,
            str(line.quantity),
            line.unit_price,
            line.discount,
            line.tax,
            line.amount,
        )
        _row(pdf, cells, bold=False, shade=False)


def _totals(pdf: FPDF, doc: quotes.QuoteDocument) -> None:
    rows = [("Subtotal", doc.subtotal, False)]
    if doc.discount:
        rows.append(("Discount", doc.discount, False))
    rows += [("Tax", doc.tax, False), ("Total", doc.total, True)]
    if doc.deposit:
        rows.append(("Deposit to pay now", doc.deposit, False))
    pdf.ln(3)
    for label, value, strong in rows:
        pdf.set_font(FONT, style="B" if strong else "", size=11 if strong else 10)
        pdf.set_x(pdf.l_margin + 90)
        pdf.cell(50, 7, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.cell(40, 7, value, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _paragraph(pdf: FPDF, heading: str, text: str) -> None:
    if not text.strip():
        return
    pdf.ln(4)
    pdf.set_font(FONT, style="B", size=11)
    pdf.cell(0, 7, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    pdf.multi_cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render(doc: quotes.QuoteDocument) -> bytes:
    """The version as a PDF; the same document always gives the same bytes."""
    pdf = _Pdf(f"{doc.clinic_name} · quote {doc.reference} v{doc.version}")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_creation_date(_FIXED_DATE)
    pdf.set_title(f"Quote {doc.reference} version {doc.version}")
    pdf.set_author(doc.clinic_name)
    pdf.set_creator("MI Portal")
    pdf.set_producer("MI Portal")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()

    pdf.set_font(FONT, style="B", size=16)
    pdf.multi_cell(0, 8, doc.clinic_name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=13)
    pdf.cell(0, 8, f"Quote · version {doc.version}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    _label_value(pdf, "Case reference", doc.reference)
    if doc.sent_on:
        _label_value(pdf, "Sent on", doc.sent_on)
    if doc.valid_until:
        _label_value(pdf, "Valid until", doc.valid_until)
    status = status_line(doc)
    if status:
        pdf.set_font(FONT, style="B", size=10)
        pdf.set_text_color(160, 40, 20)
        pdf.multi_cell(0, 6, f"Status: {status}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0)
    pdf.ln(4)
    _lines_table(pdf, doc)
    _totals(pdf, doc)
    _paragraph(pdf, "Message from the clinic", doc.message)
    _paragraph(pdf, "Terms", doc.terms)
    return bytes(pdf.output())


# ---------------------------------------------------------------------------------------------
# Downloads


def staff_link(actor: Actor, quote_id: object) -> str:
    """A link to one version's PDF for ``actor`` in this sign-in session alone (5 minutes)."""
    check(actor, Permission.CASES_VIEW)
    quote = str(parse_id(quote_id, "quote"))
    token = signed_links.sign(
        STAFF_PURPOSE,
        subject=signed_links.actor_subject(actor),
        lifetime=STAFF_LINK_SECONDS,
        claims={"q": quote, "t": str(actor.require_tenant())},
    )
    return f"{STAFF_PATH}/{quote}.pdf?t={token}"


def staff_link_opens(actor: Actor, quote_id: str, token: str) -> bool:
    """Whether ``token`` is a genuine, unexpired link of this session for this clinic's version."""
    claims = signed_links.verify(STAFF_PURPOSE, token, subject=signed_links.actor_subject(actor))
    return (
        claims is not None
        and actor.tenant_id is not None
        and claims.get("q") == quote_id
        and claims.get("t") == str(actor.tenant_id)
    )


def _case_of(tenant_id: uuid.UUID, quote_id: uuid.UUID) -> uuid.UUID:
    with tenant_session(tenant_id) as session:
        quote = session.get(Quote, (tenant_id, quote_id))
        if quote is None:
            raise NotFound("quote")
        return quote.submission_id


def for_staff(actor: Actor, quote_id: object) -> QuotePdf:
    """Any version of the actor's clinic as a PDF (drafts and superseded ones included); audited."""
    doc = quotes.document(actor, quote_id)  # checks CASES_VIEW; another clinic's: NotFound
    pdf = QuotePdf(filename(doc), render(doc))
    tenant_id = actor.require_tenant()
    audit.record(
        actor,
        "quote.pdf_downloaded",
        target_type="submission",
        target_id=_case_of(tenant_id, uuid.UUID(doc.id)),
        details={"quote": doc.id, "version": doc.version, "status": doc.status},
    )
    return pdf


PATIENT_PURPOSE = "patient-quote-pdf"
PATIENT_SUBJECT = "quote-pdf"
# The PDF link names only that file and expires; the page's own link (which can accept the
# quote) never appears in a URL the backend or a proxy would log.
PATIENT_LINK_SECONDS = 2 * 3600


def patient_link(token: object) -> str:
    """A short-lived link to the PDF of the version behind the patient's page token."""
    found = quotes.open_link(token)
    if found is None:
        raise patient_quotes.LinkInvalid
    tenant_id, quote_id = found
    pdf_token = signed_links.sign(
        PATIENT_PURPOSE,
        subject=PATIENT_SUBJECT,
        lifetime=PATIENT_LINK_SECONDS,
        claims={"t": str(tenant_id), "q": str(quote_id)},
    )
    return f"{PATIENT_PATH}/{pdf_token}.pdf"


def _open_patient_link(pdf_token: object) -> tuple[uuid.UUID, uuid.UUID]:
    if not isinstance(pdf_token, str) or len(pdf_token) > signed_links.MAX_TOKEN_LENGTH:
        raise patient_quotes.LinkInvalid
    claims = signed_links.verify(PATIENT_PURPOSE, pdf_token, subject=PATIENT_SUBJECT)
    try:
        assert claims is not None
        return uuid.UUID(claims["t"]), uuid.UUID(claims["q"])
    except (AssertionError, KeyError, ValueError):
        raise patient_quotes.LinkInvalid from None


def for_patient(
    pdf_token: object, *, ip: str | None = None, user_agent: str | None = None
) -> QuotePdf:
    """The version a patient's PDF link names, as a PDF (raises ``LinkInvalid``); audited."""
    tenant_id, quote_id = _open_patient_link(pdf_token)
    page = patient_quotes.view_version(tenant_id, quote_id, ip=ip, user_agent=user_agent)
    doc = page.document
    pdf = QuotePdf(filename(doc), render(doc))
    audit.record(
        None,
        "quote.pdf_downloaded",
        tenant_id=tenant_id,
        target_type="submission",
        target_id=_case_of(tenant_id, quote_id),
        ip=ip,
        user_agent=user_agent,
        details={"quote": doc.id, "version": doc.version, "by": "patient"},
    )
    return pdf
