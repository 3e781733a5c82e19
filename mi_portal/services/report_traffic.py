"""The clinic dashboard's message volume and delivery failures.

Messages count when written in the range, deliveries when queued in it; the concern-area and
source filters reach them through their case (message → thread → submission, joined on the
clinic and the id). Each figure is one grouped statement in the clinic's tenant session, built
once per ``report_sql.Shape``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func
from sqlmodel import col

from mi_portal.db import ScopedSession
from mi_portal.models import Message, MessageThread, OutboxMessage, Submission
from mi_portal.models.messaging import MessageChannel, MessageDirection, OutboxKind, OutboxStatus
from mi_portal.services import report_sql
from mi_portal.services.report_types import Chart, ReportQuery, Series

DIRECTION_LABELS = {
    MessageDirection.OUTBOUND.value: "Sent",
    MessageDirection.INBOUND.value: "Received",
}
CHANNEL_LABELS = {
    MessageChannel.EMAIL.value: "Email",
    MessageChannel.SMS.value: "SMS",
    MessageChannel.PORTAL.value: "Reply page",
}
# The message series always drawn, in this order; any other pair found follows them.
MESSAGE_SERIES = (
    (MessageDirection.OUTBOUND.value, MessageChannel.EMAIL.value),
    (MessageDirection.OUTBOUND.value, MessageChannel.SMS.value),
    (MessageDirection.INBOUND.value, MessageChannel.EMAIL.value),
    (MessageDirection.INBOUND.value, MessageChannel.SMS.value),
    (MessageDirection.INBOUND.value, MessageChannel.PORTAL.value),
)


def _through_case(statement: Any, shape: report_sql.Shape) -> Any:
    """Join messages to their case and keep those of the filtered cases (only when filtering:
    every message has a thread and every thread a case)."""
    if not (shape.area or shape.source):
        return statement
    return (
        statement.join(
            MessageThread,
            and_(
                col(MessageThread.tenant_id) == Message.tenant_id,
                col(MessageThread.id) == Message.thread_id,
            ),
        )
        .join(
            Submission,
            and_(
                col(Submission.tenant_id) == MessageThread.tenant_id,
                col(Submission.id) == MessageThread.submission_id,
            ),
        )
        .where(*report_sql.case_filters(shape))
    )


@functools.lru_cache(maxsize=64)
def messages_statement(shape: report_sql.Shape) -> Any:
    """Messages written in the range per bucket on the clinic's clock, direction and channel."""
    bucket = report_sql.bound_bucket(
        col(Message.created_at), shape.grain, shape.dialect, shape.segments
    ).label("bucket")
    statement = sa.select(
        bucket, col(Message.direction), col(Message.channel), func.count()
    ).select_from(Message)
    return (
        _through_case(statement, shape)
        .where(
            col(Message.tenant_id) == report_sql.tenant_param(),
            *report_sql.in_range(col(Message.created_at)),
        )
        .group_by(bucket, col(Message.direction), col(Message.channel))
    )


def messages_chart(
    session: ScopedSession, query: ReportQuery, shape: report_sql.Shape, values: dict[str, Any]
) -> Chart:
    """Messages written in the range per bucket on the clinic's clock, by direction × channel."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for label, direction, channel, n in report_sql.rows(session, messages_statement(shape), values):
        counts.setdefault((direction, channel), {})[str(label)] = int(n)
    columns = ["Period", "Direction", "Channel", "Messages"]
    if not counts:
        return Chart("messages", "Messages", "stacked_bar", [], [], columns, [])
    buckets = report_sql.captions(
        date.fromisoformat(query.date_from), date.fromisoformat(query.date_to), query.grain
    )
    pairs = list(MESSAGE_SERIES) + sorted(set(counts) - set(MESSAGE_SERIES))
    series = [
        Series(
            _pair_name(pair), [float(counts.get(pair, {}).get(label, 0)) for label, _ in buckets]
        )
        for pair in pairs
    ]
    rows = [
        [caption, _direction(pair[0]), _channel(pair[1]), str(counts.get(pair, {}).get(label, 0))]
        for label, caption in buckets
        for pair in pairs
    ]
    return Chart(
        key="messages",
        title="Messages",
        kind="stacked_bar",
        x=[caption for _, caption in buckets],
        series=series,
        columns=columns,
        rows=rows,
        caption="Messages written to and by patients, by how they travelled.",
        y_title="Messages",
    )


def _direction(value: str) -> str:
    return DIRECTION_LABELS.get(value, value.capitalize())


def _channel(value: str) -> str:
    return CHANNEL_LABELS.get(value, value.capitalize())


def _pair_name(pair: tuple[str, str]) -> str:
    return f"{_direction(pair[0])} · {_channel(pair[1])}"


@functools.lru_cache(maxsize=64)
def deliveries_statement(shape: report_sql.Shape) -> Any:
    """Deliveries of patient messages queued in the range per channel, and how many failed."""
    failed = sa.case((col(OutboxMessage.status) == OutboxStatus.FAILED.value, 1), else_=0)
    statement = sa.select(col(OutboxMessage.channel), func.count(), func.sum(failed)).select_from(
        OutboxMessage
    )
    if shape.area or shape.source:
        statement = statement.join(
            Message,
            and_(
                col(Message.tenant_id) == OutboxMessage.tenant_id,
                col(Message.id) == OutboxMessage.message_id,
            ),
        )
    return (
        _through_case(statement, shape)
        .where(
            col(OutboxMessage.tenant_id) == report_sql.tenant_param(),
            col(OutboxMessage.kind) == OutboxKind.PATIENT_MESSAGE.value,
            *report_sql.in_range(col(OutboxMessage.created_at)),
        )
        .group_by(col(OutboxMessage.channel))
    )


def delivery_failures_chart(
    session: ScopedSession, shape: report_sql.Shape, values: dict[str, Any]
) -> Chart:
    """Deliveries of patient messages queued in the range per channel, and how many failed."""
    found_rows: Sequence[Any] = report_sql.rows(session, deliveries_statement(shape), values)
    order = list(CHANNEL_LABELS)
    found = sorted(
        ((channel, int(n), int(bad or 0)) for channel, n, bad in found_rows),
        key=lambda c: (order.index(c[0]) if c[0] in order else len(order), c[0]),
    )
    columns = ["Channel", "Deliveries", "Failed", "Failure rate"]
    if not found:
        return Chart("delivery_failures", "Delivery failures", "bar", [], [], columns, [])
    total = sum(n for _, n, _ in found)
    failures = sum(bad for _, _, bad in found)
    return Chart(
        key="delivery_failures",
        title="Delivery failures",
        kind="bar",
        x=[_channel(c) for c, _, _ in found],
        series=[
            Series("Deliveries", [float(n) for _, n, _ in found]),
            Series("Failed", [float(bad) for _, _, bad in found]),
        ],
        columns=columns,
        rows=[[_channel(c), str(n), str(bad), report_sql.share(bad, n)] for c, n, bad in found],
        caption=f"{failures} of {total} deliveries failed ({report_sql.share(failures, total)}).",
        y_title="Deliveries",
    )
