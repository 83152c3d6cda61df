"""The desk's Status (queues, send rate, channel health, workers, stories' lives: what `newsbot status` shows) and
Audit (who did what, filtered by account, action and date) pages."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from bot.web.desk_auth import DeskView, editor_view
from bot.web.desk_drafts import schedule_zone, when_text
from subscribers import channel_health, story_changes, story_lists, story_states, workers
from subscribers import status as status_store

router = APIRouter()

#: Failures counted on the status page: the last day's, as `newsbot status` counts them.
FAILURE_WINDOW = timedelta(hours=24)
#: A worker whose heartbeat is older than this is shown as silent.
SILENT_AFTER = timedelta(seconds=30)


@router.get("/desk/status", response_class=HTMLResponse)
async def status(desk: DeskView = Depends(editor_view)) -> HTMLResponse:
    now = desk.newsroom.clock.now()
    async with desk.newsroom.reader.connect() as conn:
        report = await status_store.delivery_status_report(
            conn, now, sent_since=now - timedelta(minutes=1), failures_since=now - FAILURE_WINDOW
        )
        outages = await channel_health.outages(conn, count_waiting=True)
        life = await story_states.story_life_counts(conn, now)
        changes = await story_changes.change_totals(conn)
        registered = await workers.list_workers(conn)
    zone = schedule_zone(desk.newsroom)
    context = {
        "report": report,
        "outages": outages,
        "life": life,
        "changes": changes,
        "workers": [(*worker, now - worker[4] > SILENT_AFTER) for worker in registered],
        "when": lambda moment: when_text(moment, zone),
        "channels": list(report.sent_last_minute),
    }
    return desk.page("status.html.j2", context, section="/desk/status")


def _day(text: str, zone_name: str, *, end: bool = False) -> datetime | None:
    """A date from the filter (YYYY-MM-DD, in the newsroom's zone); the next midnight for the end of a range."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None
    moment = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone_name))
    return moment + timedelta(days=1) if end else moment


@router.get("/desk/audit", response_class=HTMLResponse)
async def audit(request: Request, desk: DeskView = Depends(editor_view)) -> HTMLResponse:
    """The audit log, newest first; ``?actor=``, ``?action=``, ``?since=`` and ``?until=`` (dates) narrow it."""
    query = request.query_params
    zone = schedule_zone(desk.newsroom)
    actor, action = query.get("actor", "").strip(), query.get("action", "").strip()
    since_text, until_text = query.get("since", "").strip(), query.get("until", "").strip()
    since = _day(since_text, zone.key) if since_text else None
    until = _day(until_text, zone.key, end=True) if until_text else None
    problems = [
        f"{name}: {text!r} is not a date such as 2026-12-02"
        for name, text, moment in (("From", since_text, since), ("To", until_text, until))
        if text and moment is None
    ]
    async with desk.newsroom.reader.connect() as conn:
        entries = await story_lists.search_audit(conn, actor=actor, action=action, since=since, until=until)
        actions = await story_lists.audit_actions(conn)
    context = {
        "entries": entries,
        "actions": actions,
        "filters": {"actor": actor, "action": action, "since": since_text, "until": until_text},
        "problems": problems,
        "when": lambda moment: when_text(moment, zone),
    }
    return desk.page("audit.html.j2", context, section="/desk/audit", status=422 if problems else 200)
