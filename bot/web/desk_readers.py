"""The desk's Readers: counts by topic and channel, readers coming and going per week (an SVG chart drawn here,
no script), a search by address or chat id and one reader's record; for admins also erase (GDPR), a reader's JSON
export, a CSV import and a CSV export of everyone.

Erase, import and export go the way ``newsbot subscribers remove`` and ``newsbot subscribers import`` go (the same
store functions, the same checks: every CSV row first, nothing imported if one is bad) and are audited as the
signed-in account. The audit log never holds a reader's address: an erased reader is named by id only.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from bot.app.errors import InvalidSubscriber
from bot.app.newsroom import Newsroom
from bot.stories.text_decoding import NotText, decode_text
from bot.web.app_state import newsroom_of
from bot.web.desk_auth import DeskPost, EditorSession, admin_post, current_admin, current_editor
from bot.web.desk_drafts import schedule_zone, when_text
from bot.web.desk_rendering import desk_page
from subscribers import reader_stats, readers
from subscribers.audit import add_audit_entry
from subscribers.import_conflicts import ImportConflict
from subscribers.import_owners import RefusedRows
from subscribers.preferences import CSV_COLUMNS, RowError, csv_cell, read_subscribers_csv
from subscribers.schema import AddressStatus, ChannelName

router = APIRouter()

#: Weeks the chart shows, this one included.
WEEKS = 12
#: The largest CSV the import reads (a 100,000-reader file is about 5 MB).
MAX_IMPORT_BYTES = 50_000_000
#: Row errors shown on the import's result page; the rest are counted.
SHOWN_ERRORS = 200
#: Deliveries listed on a reader's page (the JSON export has all).
SHOWN_DELIVERIES = 50
DONE = {"erased": "The reader is erased: addresses, follows and deliveries are gone."}


# -- the chart -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeekBars:
    """One week of the chart: its counts and where its two bars go (SVG user units)."""

    start: date
    signups: int
    left: int
    x: float
    signup_height: float
    left_height: float

    @property
    def label(self) -> str:
        return f"{self.start:%d %b}"


CHART_WIDTH, CHART_HEIGHT, PLOT_TOP, PLOT_BOTTOM = 600, 180, 14, 150
BAR = 16


def week_start(moment: datetime, zone: ZoneInfo) -> date:
    """The Monday of *moment*'s week in the newsroom's zone."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def weekly_bars(now: datetime, zone: ZoneInfo, signups: list[datetime], left: list[datetime]) -> list[WeekBars]:
    """The last :data:`WEEKS` weeks, oldest first, with bar heights scaled to the busiest week."""
    first = week_start(now, zone) - timedelta(weeks=WEEKS - 1)
    weeks = [first + timedelta(weeks=n) for n in range(WEEKS)]
    counted = {week: [0, 0] for week in weeks}
    for series, moments in enumerate((signups, left)):
        for moment in moments:
            week = week_start(moment, zone)
            if week in counted:
                counted[week][series] += 1
    top = max([1, *(n for pair in counted.values() for n in pair)])
    slot = CHART_WIDTH / WEEKS
    scale = (PLOT_BOTTOM - PLOT_TOP) / top
    return [
        WeekBars(week, s, g, index * slot + slot / 2 - BAR, s * scale, g * scale)
        for index, (week, (s, g)) in enumerate(counted.items())
    ]


def chart_since(now: datetime, zone: ZoneInfo) -> datetime:
    """The first moment the chart counts: midnight on the Monday :data:`WEEKS` - 1 weeks before this one."""
    first = week_start(now, zone) - timedelta(weeks=WEEKS - 1)
    return datetime.combine(first, time(0), tzinfo=zone)


# -- pages every editor sees -----------------------------------------------------------------------------------


@router.get("/desk/readers", response_class=HTMLResponse)
async def readers_overview(
    request: Request, editor: EditorSession = Depends(current_editor), newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    """Counts, the weekly chart, and with ``?q=`` the addresses matching it."""
    query = request.query_params.get("q", "").strip()[:320]
    now, zone = newsroom.clock.now(), schedule_zone(newsroom)
    since = chart_since(now, zone)
    async with newsroom.reader.connect() as conn:
        total = await readers.count_subscribers(conn)
        topics = await reader_stats.topic_counts(conn)
        channels = await reader_stats.channel_counts(conn)
        signups = await reader_stats.signup_times(conn, since)
        left = await reader_stats.leaving_times(conn, since)
        found = await reader_stats.search_addresses(conn, query) if query else []
    bars = weekly_bars(now, zone, signups, left)
    context = {
        "total": total,
        "topics": [
            (count, newsroom.taxonomy[count.topic].name if count.topic in newsroom.taxonomy else count.topic)
            for count in topics
        ],
        "channels": channels,
        "channel_names": [channel.value for channel in ChannelName],
        "statuses": [status.value for status in AddressStatus],
        "bars": bars,
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bottom": PLOT_BOTTOM, "bar": BAR},
        "totals": (sum(b.signups for b in bars), sum(b.left for b in bars)),
        "query": query,
        "found": found,
        "done": DONE.get(request.query_params.get("done", "")),
    }
    return desk_page(newsroom, editor, "readers.html.j2", context, section="/desk/readers")


# -- admin only: import and export of everyone (before /desk/readers/{id}, which would take their names) ------------


@router.get("/desk/readers/import", response_class=HTMLResponse)
async def import_form(
    editor: EditorSession = Depends(current_admin), newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    return desk_page(newsroom, editor, "readers_import.html.j2", {"result": None}, section="/desk/readers")


@router.post("/desk/readers/import", response_class=HTMLResponse)
async def import_csv(post: DeskPost = Depends(admin_post)) -> HTMLResponse:
    """Check every row of the uploaded CSV; import them all, or none and list what is wrong with each."""
    editor, form, newsroom = post.editor, post.form, post.newsroom

    def refused(problem: str, errors: list[str] | None = None, rows: int = 0) -> HTMLResponse:
        result = {"problem": problem, "errors": (errors or [])[:SHOWN_ERRORS], "more": 0, "rows": rows}
        result["more"] = max(0, len(errors or []) - SHOWN_ERRORS)
        context = {"result": result, "filename": name}
        return desk_page(newsroom, editor, "readers_import.html.j2", context, section="/desk/readers", status=422)

    def invalid_rows(errors: list[RowError]) -> HTMLResponse:
        return refused(
            f"{len(errors)} of {parsed.rows} rows are invalid; nothing was imported. Fix them and import the "
            "file again.",
            [str(error) for error in errors],
            parsed.rows,
        )

    upload = form.get("file")
    name = upload.filename if isinstance(upload, UploadFile) else None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return refused("file: choose a CSV file to import.")
    data = await upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        return refused(
            f"file: {name} is larger than {MAX_IMPORT_BYTES // 1_000_000} MB; split it and import each part."
        )
    if not data.strip():
        return refused(f"file: {name} is empty; a CSV needs a header row and at least one reader.")
    try:
        parsed = read_subscribers_csv(decode_text(data), newsroom.taxonomy)
    except NotText as exc:
        return refused(f"file: {name} is {exc}; expected a CSV file.")
    except InvalidSubscriber as exc:
        return refused(f"file: {name}, {exc}.")
    if parsed.errors:
        async with newsroom.reader.connect() as conn:  # the store's refusals too, all in one go
            return invalid_rows(parsed.refused(await readers.refused_rows(conn, parsed.subscribers)))
    if not parsed.rows:
        return refused(f"file: {name} has a header but no reader.")
    now = newsroom.clock.now()
    try:
        async with newsroom.engine.begin() as conn:
            outcome = await readers.add_subscribers(conn, parsed.subscribers, now)
            await add_audit_entry(
                conn,
                at=now,
                actor=editor.actor,
                action="readers imported",
                recipients=parsed.rows,
                details=f"{outcome.created} new, {outcome.merged} existing updated, {outcome.added} addresses added, "
                f"from a CSV of {parsed.rows} rows",
            )
    except RefusedRows as exc:  # rows naming two readers; nothing was written
        return invalid_rows(parsed.refused(exc.reasons))
    except ImportConflict as exc:  # an address taken meanwhile (see subscribers.import_conflicts): rolled back
        return refused(f"{exc}.", rows=parsed.rows)
    result = {"problem": None, "rows": parsed.rows, "created": outcome.created, "merged": outcome.merged}
    result["added"] = outcome.added
    context = {"result": result, "filename": name}
    return desk_page(newsroom, editor, "readers_import.html.j2", context, section="/desk/readers")


@router.get("/desk/readers/export.csv")
async def export_csv(
    editor: EditorSession = Depends(current_admin), newsroom: Newsroom = Depends(newsroom_of)
) -> Response:
    """Every reader who can still be reached, in the import's own columns, so the file imports back as it is.

    Stopped addresses (unsubscribed, chat gone, bounced) are left out: importing the file must never revive them.
    """
    async with newsroom.reader.connect() as conn:
        views = await readers.list_subscribers(conn)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    written = 0
    for view in views:
        live = {ch: a for ch, a in view.addresses.items() if a["status"] not in reader_stats.STOPPED_STATES}
        if not live:
            continue
        chat, mail = live.get(ChannelName.TELEGRAM.value), live.get(ChannelName.EMAIL.value)
        writer.writerow(
            [
                chat["address"] if chat else "",
                csv_cell(mail["address"]) if mail else "",
                ";".join(view.topics),
                ("yes" if mail["status"] == AddressStatus.ACTIVE.value else "no") if mail else "",
                chat["cadence"] if chat else "",
                mail["cadence"] if mail else "",
            ]
        )
        written += 1
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        await add_audit_entry(conn, at=now, actor=editor.actor, action="readers exported", recipients=written)
    filename = f"readers-{now.astimezone(schedule_zone(newsroom)):%Y-%m-%d}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


# -- one reader ------------------------------------------------------------------------------------------------


def _not_found(newsroom: Newsroom, editor: EditorSession, subscriber_id: int) -> HTMLResponse:
    context = {"record": None, "subscriber_id": subscriber_id}
    return desk_page(newsroom, editor, "readers_record.html.j2", context, section="/desk/readers", status=404)


@router.get("/desk/readers/{subscriber_id:int}", response_class=HTMLResponse)
async def reader_page(
    subscriber_id: int, editor: EditorSession = Depends(current_editor), newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    """A reader's addresses, cadences, follows and latest deliveries; erase and export for admins."""
    async with newsroom.reader.connect() as conn:
        record = await reader_stats.reader_record(conn, subscriber_id, delivery_limit=SHOWN_DELIVERIES)
        delivered = await reader_stats.count_deliveries(conn, subscriber_id) if record else 0
    if record is None:
        return _not_found(newsroom, editor, subscriber_id)
    zone = schedule_zone(newsroom)
    context = {
        "record": record,
        "delivered": delivered,
        "shown": SHOWN_DELIVERIES,
        "when": lambda moment: when_text(moment, zone) if moment else "",
    }
    return desk_page(newsroom, editor, "readers_record.html.j2", context, section="/desk/readers")


def _json_value(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


@router.get("/desk/readers/{subscriber_id:int}/export.json")
async def export_reader(
    subscriber_id: int, editor: EditorSession = Depends(current_admin), newsroom: Newsroom = Depends(newsroom_of)
) -> Response:
    """Everything the store holds about one reader, as a JSON download (a GDPR access request)."""
    async with newsroom.reader.connect() as conn:
        record = await reader_stats.reader_record(conn, subscriber_id)
    if record is None:
        return _not_found(newsroom, editor, subscriber_id)
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        await add_audit_entry(
            conn,
            at=now,
            actor=editor.actor,
            action="reader exported",
            recipients=1,
            details=f"subscriber {subscriber_id}",
        )
    document = {
        "outlet": newsroom.settings.outlet_name,
        "exported_at": now.isoformat(),
        "subscriber_id": record.subscriber_id,
        "created_at": record.created_at.isoformat(),
        "addresses": record.addresses,
        "follows": record.follows,
        "deliveries": record.deliveries,
    }
    return Response(
        json.dumps(document, default=_json_value, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="reader-{subscriber_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/desk/readers/{subscriber_id:int}/erase")
async def erase_reader(subscriber_id: int, post: DeskPost = Depends(admin_post)) -> Response:
    """Erase a reader as ``newsbot subscribers remove`` and ``/stop`` do: addresses, follows, deliveries."""
    editor, newsroom = post.editor, post.newsroom
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        erased = await readers.remove_subscriber(conn, subscriber_id)
        if erased:
            await add_audit_entry(
                conn,
                at=now,
                actor=editor.actor,
                action=reader_stats.ERASED_ACTION,
                recipients=1,
                details=f"subscriber {subscriber_id}",
            )
    if not erased:
        return _not_found(newsroom, editor, subscriber_id)
    return RedirectResponse("/desk/readers?done=erased", status_code=303)
