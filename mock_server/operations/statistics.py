"""Production's statistics (profile ``lizdeika``): what agents and QA scripts read back.

``record_reply`` is what ``POST /api/agent/respond`` records (agentController.js:218);
the rest computes the answers of ``GET /api/statistics/*`` as production's
``statisticsService.js`` does, over the same data: conversations started in the range,
messages stored in it, and the recorded replies.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from vilnius_client.events import Message, SystemMode, format_timestamp, utcnow

from ..hub import Hub
from ..store.schema import read_timestamp
from ..store.statistics import StatisticsRecord

__all__ = [
    "ACTIONS",
    "agent_statistics",
    "conversation_statistics",
    "dashboard",
    "day_range",
    "record_reply",
    "suggestion_statistics",
    "trends",
]

ACTIONS = {"as-is": "sent_as_is", "edited": "edited", "from-scratch": "from_scratch"}
"""``suggestionAction`` of a reply -> production's statistics enum."""

_ACTION_KEYS = (("sentAsIs", "sent_as_is"), ("edited", "edited"), ("fromScratch", "from_scratch"))
"""Production's statistics enum -> the camelCase key of its counts."""

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def record_reply(hub: Hub, message: Message, agent_id: str, used: Any, action: Any) -> None:
    """Record a reply's statistics, where production's database would accept the row.

    Production stores ``usedSuggestion || false`` in a boolean column and the agent id as
    a reference to a user: a truthy ``usedSuggestion`` that is not ``true`` (a text, a
    number) or an agent id that is no user's UUID (an e-mail) fails the insert, and the
    reply is then not counted at all (the reply itself is kept).
    """
    if hub.store.users.get(agent_id) is None:
        return
    if used and used is not True:
        return
    hub.store.message_statistics.add(
        StatisticsRecord(
            message_id=message.id,
            agent_id=agent_id,
            ticket_id=message.conversation_id,
            ai_suggestion_used=bool(used),
            suggestion_action=ACTIONS.get(action) if isinstance(action, str) else None,
            original_suggestion=message.content if used else None,
            system_mode=hub.store.settings.system_mode().value,
            created_at=message.timestamp,
        )
    )


def day_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """``parseDateRange``: whole UTC days, from 30 days ago to today by default."""
    now = utcnow()
    first = (start or now - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    last = (end or now).replace(hour=23, minute=59, second=59, microsecond=999_000)
    return first, last


def meta(start: datetime, end: datetime, **extra: str) -> dict[str, Any]:
    """``meta`` of an answer."""
    return {
        "startDate": format_timestamp(start),
        "endDate": format_timestamp(end),
        **({"granularity": extra["granularity"]} if "granularity" in extra else {}),
        "generatedAt": format_timestamp(utcnow()),
        **({"note": extra["note"]} if "note" in extra else {}),
    }


def _started(hub: Hub, start: datetime, end: datetime) -> list[str]:
    return [c.id for c in hub.store.conversations.all() if start <= c.started_at <= end]


def _status(hub: Hub, started: list[str]) -> dict[str, int]:
    archived = sum(1 for c in started if hub.store.tickets.get(c).archived)
    return {"active": len(started) - archived, "archived": archived}


def _user_name(hub: Hub, agent_id: str) -> tuple[str, str | None]:
    user = hub.store.users.get(agent_id)
    if user is None:
        return "Unknown", None
    public = user.public()
    return f"{public['first_name']} {public['last_name']}", user.email


def _message_counts(records: list[StatisticsRecord], hub: Hub) -> list[dict[str, Any]]:
    """``getAgentMessageCounts``: replies per agent, most first."""
    counts = Counter(r.agent_id for r in records)
    total = len(records)
    ranking = []
    for agent_id, count in counts.items():
        name, email = _user_name(hub, agent_id)
        entry: dict[str, Any] = {"agentId": agent_id, "name": name}
        if email is not None:
            entry["email"] = email
        entry.update(messageCount=count, percentage=count / total * 100 if total else 0)
        ranking.append(entry)
    ranking.sort(key=lambda entry: -entry["messageCount"])
    return ranking


def _activity(records: list[StatisticsRecord], hub: Hub) -> list[dict[str, Any]]:
    """``getAgentActivityDetails``: each agent's replies by how they used suggestions."""
    by_agent: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.agent_id not in by_agent:
            name, email = _user_name(hub, record.agent_id)
            by_agent[record.agent_id] = {
                "agentId": record.agent_id,
                "name": name,
                "email": email,
                "totalMessages": 0,
                "aiSuggestionUsed": 0,
                "sentAsIs": 0,
                "edited": 0,
                "fromScratch": 0,
            }
        stats = by_agent[record.agent_id]
        stats["totalMessages"] += 1
        if record.ai_suggestion_used:
            stats["aiSuggestionUsed"] += 1
            for key, action in _ACTION_KEYS:
                if record.suggestion_action == action:
                    stats[key] += 1
    for stats in by_agent.values():
        used = stats["aiSuggestionUsed"]
        stats["suggestionUsagePercentage"] = used / stats["totalMessages"] * 100 if used else 0
    return list(by_agent.values())


def _usage(records: list[StatisticsRecord]) -> dict[str, Any]:
    """``getAISuggestionUsage``: ``hitl`` replies that had a suggestion, by action."""
    used = [r for r in records if r.system_mode == SystemMode.HITL.value and r.ai_suggestion_used]
    total = len(used)
    answer: dict[str, Any] = {"totalSuggestions": total}
    for key, action in _ACTION_KEYS:
        count = sum(1 for r in used if r.suggestion_action == action)
        answer[key] = count
        answer[f"{key}Percentage"] = count / total * 100 if total else 0
    return answer


async def dashboard(hub: Hub, start: datetime, end: datetime) -> dict[str, Any]:
    """``getDashboardStats`` (statisticsController.js:45)."""
    started = _started(hub, start, end)
    records = hub.store.message_statistics.between(start, end)
    messages = await hub.store.message_statistics.messages_between(start, end)
    conversations_with_messages = len({conversation for conversation, _, _ in messages})
    ranking = _message_counts(records, hub)
    return {
        "success": True,
        "data": {
            "conversations": {"total": len(started), **_status(hub, started)},
            "messages": {
                "total": len(messages) if conversations_with_messages else 0,
                "averagePerConversation": len(messages) / conversations_with_messages
                if conversations_with_messages
                else 0,
            },
            "agents": {"activeAgents": len(ranking), "topAgent": ranking[0] if ranking else None},
            "aiSuggestions": _usage(records),
        },
        "meta": meta(start, end),
    }


def conversation_statistics(
    hub: Hub, start: datetime, end: datetime, category_id: str | None, archived: str | None
) -> dict[str, Any]:
    """``getConversationStats`` (statisticsController.js:94).

    ``category_id`` and ``archived`` filter the total only, as production's do.
    """
    started = _started(hub, start, end)
    total = [
        c
        for c in started
        if (not category_id or hub.store.tickets.get(c).category_id == category_id)
        and (archived is None or hub.store.tickets.get(c).archived == (archived == "true"))
    ]
    groups: Counter[str | None] = Counter(hub.store.tickets.get(c).category_id for c in started)
    by_category = []
    for group, count in groups.items():
        data: dict[str, Any] | None = None
        category = hub.store.categories.get(group)
        if group is None:
            data = {"name": "Uncategorized", "color": "#6B7280"}
        elif category is not None:
            data = {"id": category.id, "name": category.name, "color": category.color}
        by_category.append({"category": data, "count": count} if data else {"count": count})
    return {
        "success": True,
        "data": {"total": len(total), "byCategory": by_category, "status": _status(hub, started)},
        "meta": meta(start, end),
    }


def agent_statistics(
    hub: Hub, start: datetime, end: datetime, agent_id: str | None
) -> dict[str, Any]:
    """``getAgentStats`` (statisticsController.js:132): every agent, or one in detail."""
    records = hub.store.message_statistics.between(start, end)
    if agent_id:
        mine = [r for r in records if r.agent_id == agent_id]
        details = _activity(mine, hub)
        data: dict[str, Any] = {
            "agent": details[0] if details else None,
            "suggestions": _breakdown(mine, agent_id),
        }
    else:
        usage = {e["agentId"]: e["suggestionUsagePercentage"] for e in _activity(records, hub)}
        data = {
            "agents": [
                {**entry, "suggestionUsage": usage[entry["agentId"]]}
                for entry in _message_counts(records, hub)
            ]
        }
    return {"success": True, "data": data, "meta": meta(start, end)}


def _breakdown(records: list[StatisticsRecord], agent_id: str) -> dict[str, Any]:
    """``getAgentSuggestionBreakdown``: one agent's usage (edit ratios are never recorded)."""
    return {"agentId": agent_id, **_usage(records), "averageEditRatio": 0}


def suggestion_statistics(
    hub: Hub, start: datetime, end: datetime, agent_id: str | None
) -> dict[str, Any]:
    """``getAISuggestionStats`` (statisticsController.js:194)."""
    records = hub.store.message_statistics.between(start, end)
    if agent_id:
        mine = [r for r in records if r.agent_id == agent_id]
        return {"success": True, "data": _breakdown(mine, agent_id), "meta": meta(start, end)}
    note = "Statistics include HITL mode only (excludes autopilot)"
    return {"success": True, "data": _usage(records), "meta": meta(start, end, note=note)}


async def trends(hub: Hub, start: datetime, end: datetime, granularity: str) -> dict[str, Any]:
    """``getTrendStats`` (statisticsController.js:237): conversations per bucket, peak hours.

    Peak hours count agent and customer messages (production's ``agent`` and ``user``
    senders), by UTC hour and weekday.
    """
    buckets: Counter[str] = Counter()
    for conversation in hub.store.conversations.all():
        if not start <= conversation.started_at <= end:
            continue
        day = conversation.started_at
        if granularity == "week":
            day = day - timedelta(days=(day.weekday() + 1) % 7)
        key = day.strftime("%Y-%m") if granularity == "month" else day.strftime("%Y-%m-%d")
        buckets[key] += 1
    hours = [0] * 24
    days = [0] * 7
    for _, sender, timestamp in await hub.store.message_statistics.messages_between(start, end):
        if sender not in ("agent", "visitor"):
            continue
        when = read_timestamp(timestamp)
        hours[when.hour] += 1
        days[(when.weekday() + 1) % 7] += 1
    return {
        "success": True,
        "data": {
            "conversationTrends": [
                {"date": date, "count": count} for date, count in sorted(buckets.items())
            ],
            "peakHours": {
                "byHour": [{"hour": hour, "count": count} for hour, count in enumerate(hours)],
                "byDay": [{"day": _DAYS[day], "count": count} for day, count in enumerate(days)],
            },
        },
        "meta": meta(start, end, granularity=granularity),
    }
