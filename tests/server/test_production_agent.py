"""Profile ``lizdeika``: production's agent endpoints, on the wire (raw HTTP and sockets).

Each test names the part of production's backend (``custom-widget/backend/src`` at
commit 0dec8e5) it checks the reference server against: suggestions, reply options and
the statistics they feed, unassigning, archiving, categories, templates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mock_server import RunningServer
from mock_server.production_settings import ProductionSettings
from tests.server.helpers import Api
from tests.server.production_agent_support import (
    ADMIN,
    OTHER,
    SUGGESTION,
    Login,
    customer_says,
    dashboard,
    login,
    production,
    session_id,
)


@pytest.fixture
async def prod() -> AsyncIterator[RunningServer]:
    async with production() as running:
        yield running


@pytest.fixture
async def api(prod: RunningServer) -> AsyncIterator[Api]:
    async with Api(prod.url) as client:
        yield client


@pytest.fixture
async def me(api: Api) -> Login:
    return await login(api)


async def test_pending_and_generated_suggestions(api: Api, me: Login) -> None:
    """conversationController.js:145 (hitl), :419 (pending), :461 (generate)."""
    conversation = session_id()
    await customer_says(api, conversation, "Where is my parcel?")
    path = f"/api/conversations/{conversation}"
    refused = await api.get(f"{path}/pending-suggestion")
    assert refused.status == 401
    assert refused.body["code"] == "TOKEN_MISSING"
    pending = await api.get(f"{path}/pending-suggestion", token=me.access)
    assert pending.status == 200, pending.body
    assert pending.body["suggestion"]["response"] == SUGGESTION
    assert pending.body["suggestion"]["metadata"]["fallbackUsed"] is True
    assert pending.body["confidence"] == 0.85
    assert pending.body["metadata"] == {"messageCount": 1}
    generated = await api.post(f"{path}/generate-suggestion", token=me.access)
    assert generated.status == 200, generated.body
    assert generated.body["suggestion"] == SUGGESTION
    assert generated.body["metadata"]["manualGeneration"] is True
    assert generated.body["metadata"]["customerMessages"] == 1
    # the generated one replaced the pending one
    latest = await api.get(f"{path}/pending-suggestion", token=me.access)
    assert latest.body["suggestion"] == SUGGESTION
    assert latest.body["messageId"] == generated.body["messageId"]
    # every message counts, the superseded pending one included (production counts them
    # before deleting it)
    assert latest.body["metadata"] == {"messageCount": 2, "customerMessages": 1}
    history = (await api.get(f"{path}/messages")).body["messages"]
    assert [m["content"] for m in history] == [
        "Where is my parcel?",
        "[Manual AI suggestion generated]",
    ]
    # a reply supersedes it
    reply = {"conversationId": conversation, "message": "On its way", "agentId": me.id}
    assert (await api.post("/api/agent/respond", reply)).status == 200
    gone = await api.get(f"{path}/pending-suggestion", token=me.access)
    assert gone.status == 404
    assert gone.body == {"error": "No pending suggestion found"}
    invalid = await api.get("/api/conversations/nope/pending-suggestion", token=me.access)
    assert invalid.status == 400
    assert invalid.body == {
        "error": "conversationId must be a valid UUID or session ID",
        "field": "conversationId",
    }
    empty = await api.post(
        f"/api/conversations/{session_id()}/generate-suggestion", token=me.access
    )
    assert empty.status == 404
    assert empty.body == {"error": "Conversation not found or has no messages"}


async def test_the_suggestion_text_follows_the_context_as_production_s_fallback() -> None:
    """aiService.js:108: the fallback text is picked by the context's length."""
    texts = ("even", "odd")
    settings = ProductionSettings(suggestions=texts)
    async with production(production=settings) as server, Api(server.url) as api:
        me = await login(api)
        for text in ("ab", "abc"):  # contexts "Customer: ab" (12) and "Customer: abc" (13)
            conversation = session_id()
            await customer_says(api, conversation, text)
            pending = await api.get(
                f"/api/conversations/{conversation}/pending-suggestion", token=me.access
            )
            wanted = texts[len(f"Customer: {text}") % 2]
            assert pending.body["suggestion"]["response"] == wanted


async def test_chat_suggestion_is_for_admins(api: Api, me: Login) -> None:
    """systemRoutes.js:673: any valid token, then admins only."""
    body = {"conversationId": session_id(), "context": "Customer: hello"}
    refused = await api.post("/api/chat/suggestion", body, token=me.access)
    assert refused.status == 403
    assert refused.body == {"success": False, "error": "Admin access required"}
    admin = await login(api, ADMIN)
    missing = await api.post("/api/chat/suggestion", {"context": "x"}, token=admin.access)
    assert missing.status == 400
    for path in ("/api/chat/suggestion", "/chat/suggestion"):  # mounted at / and /api
        answer = await api.post(path, body, token=admin.access)
        assert answer.status == 200, answer.body
        assert answer.body["suggestion"]["response"] == SUGGESTION
        assert answer.body["metadata"]["conversationId"] == body["conversationId"]
        assert answer.body["metadata"]["enableRAG"] is False


async def _reply(api: Api, conversation: str, agent_id: str, **options: Any) -> Any:
    body = {"conversationId": conversation, "message": "A reply", "agentId": agent_id, **options}
    return await api.post("/api/agent/respond", body)


async def test_reply_options_are_stored_and_counted(api: Api, me: Login) -> None:
    """agentController.js:146-284: metadata, attribution, and the statistics rows it records."""
    other = await login(api, OTHER)
    conversations = [session_id() for _ in range(6)]
    for conversation in conversations:
        await customer_says(api, conversation, "Hello")
    as_is = await _reply(
        api, conversations[0], me.id, usedSuggestion=True, suggestionAction="as-is"
    )
    assert as_is.status == 200, as_is.body
    metadata = as_is.body["message"]["metadata"]
    assert metadata["suggestionAction"] == "as-is"
    assert metadata["usedSuggestion"] is True
    assert metadata["responseAttribution"]["responseType"] == "as-is"
    assert metadata["responseAttribution"]["respondedBy"] == "Ada Lovelace"
    await _reply(api, conversations[1], me.id, usedSuggestion=True, suggestionAction="edited")
    await _reply(api, conversations[2], me.id, usedSuggestion=True, suggestionAction="from-scratch")
    custom = await _reply(api, conversations[3], other.id)  # no suggestion at all
    assert custom.body["message"]["metadata"]["responseAttribution"]["responseType"] == "custom"
    # production drops the statistics of a reply its database refuses: a text in the
    # boolean column, an agent id that is an e-mail (no such user id)
    await _reply(api, conversations[4], me.id, usedSuggestion="yes", suggestionAction="as-is")
    await _reply(api, conversations[5], "ada@example.com", usedSuggestion=True)
    usage = await api.get("/api/statistics/ai-suggestions", token=me.access)
    assert usage.status == 200, usage.body
    data = usage.body["data"]
    assert data["totalSuggestions"] == 3
    assert (data["sentAsIs"], data["edited"], data["fromScratch"]) == (1, 1, 1)
    assert data["sentAsIsPercentage"] == pytest.approx(100 / 3)
    assert usage.body["meta"]["note"] == "Statistics include HITL mode only (excludes autopilot)"
    mine = await api.get(f"/api/statistics/ai-suggestions?agentId={me.id}", token=me.access)
    assert mine.body["data"]["agentId"] == me.id
    assert mine.body["data"]["totalSuggestions"] == 3
    agents = (await api.get("/api/statistics/agents", token=me.access)).body["data"]["agents"]
    assert [(a["agentId"], a["messageCount"]) for a in agents] == [(me.id, 3), (other.id, 1)]
    assert agents[0]["name"] == "Ada Lovelace"
    assert agents[0]["suggestionUsage"] == 100
    assert agents[1]["suggestionUsage"] == 0
    assert agents[0]["percentage"] == 75
    one = await api.get(f"/api/statistics/agents?agentId={other.id}", token=me.access)
    assert one.body["data"]["agent"]["totalMessages"] == 1
    assert one.body["data"]["agent"]["aiSuggestionUsed"] == 0
    dashboard_stats = (await api.get("/api/statistics/dashboard", token=me.access)).body
    assert dashboard_stats["data"]["agents"]["activeAgents"] == 2
    assert dashboard_stats["data"]["agents"]["topAgent"]["agentId"] == me.id
    assert dashboard_stats["data"]["conversations"] == {"total": 6, "active": 6, "archived": 0}
    # 6 customer messages and 6 replies (every pending suggestion was superseded)
    assert dashboard_stats["data"]["messages"] == {"total": 12, "averagePerConversation": 2}
    assert dashboard_stats["data"]["aiSuggestions"]["totalSuggestions"] == 3


async def test_reply_autopilot_replies_are_not_suggestion_statistics(api: Api, me: Login) -> None:
    """statisticsService.js:351: only ``hitl`` replies count among the suggestions."""
    conversation = session_id()
    await customer_says(api, conversation, "Hi")
    assert (await api.post("/api/system/mode", {"mode": "autopilot"})).status == 200
    await _reply(api, conversation, me.id, usedSuggestion=True, suggestionAction="as-is")
    usage = (await api.get("/api/statistics/ai-suggestions", token=me.access)).body["data"]
    assert usage["totalSuggestions"] == 0
    agents = (await api.get("/api/statistics/agents", token=me.access)).body["data"]["agents"]
    assert agents[0]["messageCount"] == 1


async def test_reply_file_metadata_and_message_type(api: Api, me: Login) -> None:
    """agentController.js:153 (fileValidation.js:26) and conversationService.js:326."""
    conversation = session_id()
    await customer_says(api, conversation, "Send me the form")
    bad = await _reply(api, conversation, me.id, fileMetadata={"url": "http://elsewhere/x"})
    assert bad.status == 400
    assert bad.body == {"error": "Invalid file metadata: File URL must start with /api/uploads/"}
    wrong_type = {"url": "/api/uploads/x.exe", "mimetype": "application/x-msdownload"}
    refused = await _reply(api, conversation, me.id, fileMetadata=wrong_type)
    assert refused.body == {"error": "Invalid file metadata: Invalid or disallowed file type"}
    empty = await _reply(api, conversation, me.id, fileMetadata={})  # {} is truthy in JS
    assert empty.body == {"error": "Invalid file metadata: Invalid file URL"}
    file = {
        "url": "/api/uploads/abc-form.pdf",
        "mimetype": "application/pdf",
        "filename": "form.pdf",
        "storedFilename": "abc-form.pdf",
        "size": "1234",
        "path": "/srv/uploads/abc-form.pdf",
    }
    sent = await _reply(api, conversation, me.id, fileMetadata=file, messageType="file")
    assert sent.status == 200, sent.body
    assert sent.body["message"]["messageType"] == "file"
    assert sent.body["message"]["metadata"]["file"] == {
        "filename": "form.pdf",
        "storedFilename": "abc-form.pdf",
        "mimetype": "application/pdf",
        "size": 1234,
        "url": "/api/uploads/abc-form.pdf",
    }
    unknown_type = await _reply(api, conversation, me.id, messageType="video")
    assert unknown_type.status == 500
    assert unknown_type.body == {"error": "Failed to send response"}


async def _admin_list(api: Api) -> dict[str, dict[str, Any]]:
    listed = (await api.get("/api/admin/conversations")).body["conversations"]
    return {c["id"]: c for c in listed}


async def test_unassign(api: Api, me: Login) -> None:
    """conversationController.js:586: any agent, any conversation; no event."""
    conversation = session_id()
    await customer_says(api, conversation, "Hi")
    await _reply(api, conversation, me.id)
    assert (await _admin_list(api))[conversation]["assignedAgent"] == me.id
    path = f"/api/conversations/{conversation}/unassign"
    assert (await api.post(path, {"agentId": me.id})).status == 401
    answer = await api.post(path, {"agentId": "anyone"}, token=me.access)
    assert answer.status == 200, answer.body
    assert answer.body["success"] is True
    shown = answer.body["conversation"]
    assert shown["assignedAgent"] is None
    assert shown["assignedAt"] is None
    assert shown["visitorId"] == "anonymous-session"
    assert shown["messageCount"] == 2
    assert (await _admin_list(api))[conversation]["assignedAgent"] is None
    unknown = await api.post(f"/api/conversations/{session_id()}/unassign", token=me.access)
    assert unknown.status == 404
    assert unknown.body == {"error": "Conversation not found"}


async def test_archive_unarchive_and_a_new_message_reopens(api: Api, me: Login) -> None:
    """conversationController.js:740, :826; conversationService.js:1053, :1084, :1156."""
    first, second = session_id(), session_id()
    for conversation in (first, second):
        await customer_says(api, conversation, "Hi")
        await _reply(api, conversation, me.id)
    path = "/api/admin/conversations/bulk-archive"
    archived = await api.post(path, {"conversationIds": [first, second, "nope"]}, token=me.access)
    assert archived.status == 200, archived.body
    assert archived.body == {
        "success": True,
        "message": "Archived 2 conversations",
        "data": {"archivedCount": 2},
    }
    listed = await _admin_list(api)
    assert listed[first]["archived"] is True
    assert listed[first]["assignedAgent"] is None  # archiving unassigns
    again = await api.post(path, {"conversationIds": [first]}, token=me.access)
    assert again.body["data"]["archivedCount"] == 0
    assert (await api.post(path, {"conversationIds": []}, token=me.access)).body == {
        "error": "conversationIds must be a non-empty array"
    }
    odd = await api.post(path, {"conversationIds": [1]}, token=me.access)
    assert odd.status == 500
    assert odd.body == {"error": "Failed to archive conversations"}
    # a customer message reopens an archived conversation (and assigns it afresh)
    await customer_says(api, first, "Still there?")
    assert (await _admin_list(api))[first]["archived"] is False
    # an agent's reply reopens one too, and leaves it unassigned (production's
    # auto-unarchive asks for an agent with a function it does not have)
    await _reply(api, second, me.id)
    reopened = (await _admin_list(api))[second]
    assert reopened["archived"] is False
    assert reopened["assignedAgent"] is None
    await api.post(path, {"conversationIds": [first]}, token=me.access)
    unarchived = await api.post(
        "/api/admin/conversations/bulk-unarchive",
        {"conversationIds": [first, second]},
        token=me.access,
    )
    assert unarchived.body == {
        "success": True,
        "message": "Unarchived 1 conversations",
        "data": {"unarchivedCount": 1},
    }
    stats = (await api.get("/api/statistics/conversations", token=me.access)).body["data"]
    assert stats["status"] == {"active": 2, "archived": 0}


async def test_categories_set_and_removed_with_their_events(
    prod: RunningServer, api: Api, me: Login
) -> None:
    """conversationController.js:868; the ``ticket:category_*`` events go to ``agents``."""
    categories = (await api.get("/api/categories", token=me.access)).body["categories"]
    billing = next(c for c in categories if c["name"] == "Billing")
    conversation = session_id()
    await customer_says(api, conversation, "My invoice is wrong")
    path = f"/api/conversations/{conversation}/category"
    async with dashboard(prod.url, me.id) as agents:
        answer = await api.request(
            "PATCH", path, json={"category_id": billing["id"]}, token=me.access
        )
        assert answer.status == 200, answer.body
        assert answer.body == {
            "id": conversation,
            "category_id": billing["id"],
            "category_name": "Billing",
            "category_color": "#FF0000",
        }
        assigned = await agents.wait_for("ticket:category_assigned")
        assert assigned == {
            "ticket_id": conversation,
            "category_id": billing["id"],
            "category_name": "Billing",
        }
        listed = (await _admin_list(api))[conversation]
        assert listed["categoryData"] == {
            "id": billing["id"],
            "name": "Billing",
            "color": "#FF0000",
        }
        assert listed["category_id"] == billing["id"]
        removed = await api.request("PATCH", path, json={"category_id": None}, token=me.access)
        assert removed.body == {
            "id": conversation,
            "category_id": None,
            "category_name": None,
            "category_color": None,
        }
        assert await agents.wait_for("ticket:category_removed") == {
            "ticket_id": conversation,
            "old_category_id": billing["id"],
        }
    legacy = await api.get("/api/categories?include_archived=true", token=me.access)
    archived = next(c for c in legacy.body["categories"] if c["name"] == "Legacy")
    refused = await api.request(
        "PATCH", path, json={"category_id": archived["id"]}, token=me.access
    )
    assert refused.status == 403
    assert refused.body == {"error": "Cannot assign archived category"}
    unknown = await api.request("PATCH", path, json={"category_id": "nope"}, token=me.access)
    assert (unknown.status, unknown.body) == (404, {"error": "Category not found"})
    missing = await api.request("PATCH", path, json={}, token=me.access)
    assert (missing.status, missing.body) == (500, {"error": "Failed to assign category"})
    nowhere = await api.request(
        "PATCH", f"/api/conversations/{session_id()}/category", json={}, token=me.access
    )
    assert (nowhere.status, nowhere.body) == (404, {"error": "Conversation not found"})


async def test_bulk_category(prod: RunningServer, api: Api, me: Login) -> None:
    """conversationController.js:963: one event per conversation changed, failures listed."""
    categories = (await api.get("/api/categories", token=me.access)).body["categories"]
    shipping = next(c for c in categories if c["name"] == "Shipping")
    first, second = session_id(), session_id()
    for conversation in (first, second):
        await customer_says(api, conversation, "Where is it?")
    path = "/api/admin/conversations/bulk-category"
    body = {"ticket_ids": [first, "nope", second], "updates": {"category_id": shipping["id"]}}
    async with dashboard(prod.url, me.id) as agents:
        answer = await api.request("PATCH", path, json=body, token=me.access)
        assert answer.status == 200, answer.body
        assert answer.body == {
            "success": [first, second],
            "failed": [{"ticket_id": "nope", "error": "Conversation not found"}],
            "summary": {"total": 3, "succeeded": 2, "failed": 1},
        }
        events = [await agents.wait_for("ticket:category_assigned", count=n) for n in (1, 2)]
        assert [e["ticket_id"] for e in events] == [first, second]
    listed = await _admin_list(api)
    assert listed[first]["categoryId"] == shipping["id"]
    # production marks the first conversation as categorised by hand, then fails on the
    # missing category's name, and stops (continue_on_error is off)
    quirk = await api.request(
        "PATCH", path, json={"ticket_ids": [first, second], "updates": {}}, token=me.access
    )
    assert quirk.body["success"] == [first]
    assert quirk.body["failed"] == [
        {"ticket_id": first, "error": "Cannot read properties of null (reading 'name')"}
    ]
    for wrong, error in (
        ({"ticket_ids": [], "updates": {}}, "ticket_ids array is required"),
        ({"ticket_ids": [first]}, "updates object is required"),
    ):
        refused = await api.request("PATCH", path, json=wrong, token=me.access)
        assert (refused.status, refused.body) == (400, {"error": error})


async def test_category_override_and_categorisation(api: Api, me: Login) -> None:
    """conversationController.js:1084, :1128, :1190; aiCategorizationService.js:71, :343."""
    conversation = session_id()
    await customer_says(api, conversation, "My parcel delivery is late")
    path = f"/api/conversations/{conversation}"
    too_short = await api.post(f"{path}/categorize", token=me.access)
    assert too_short.status == 400
    assert too_short.body == {"success": False, "message": "Not enough messages (2/3)"}
    await customer_says(api, conversation, "The courier never came")
    # production categorises, then fails to broadcast it: 400, with the category stored
    done = await api.post(f"{path}/categorize", token=me.access)
    assert done.status == 400
    assert done.body == {"success": False, "message": "ws.broadcastToAgents is not a function"}
    listed = (await _admin_list(api))[conversation]
    assert listed["categoryData"]["name"] == "Shipping"  # its words are in the conversation
    stats = (await api.get("/api/categorization/stats", token=me.access)).body["data"]
    assert stats["aiCategorized"] == 1
    assert stats["avgConfidence"] == 1
    assert stats["categorized"] == 1
    already = await api.post(f"{path}/categorize", token=me.access)
    assert already.body["message"] == "Ticket already has a category"
    override = await api.request(
        "PUT", f"{path}/category-override", json={"manual_override": True}, token=me.access
    )
    assert override.status == 200, override.body
    assert override.body["data"]["manual_category_override"] is True
    assert override.body["data"]["category_metadata"]["source"] == "ai"
    back = await api.request(
        "PUT", f"{path}/category-override", json={"manual_override": False}, token=me.access
    )
    assert back.body["message"] == "AI categorization re-enabled - ticket may be auto-categorized"
    assert back.body["data"]["category_metadata"] is None
    not_bool = await api.request(
        "PUT", f"{path}/category-override", json={"manual_override": "yes"}, token=me.access
    )
    assert (not_bool.status, not_bool.body) == (
        400,
        {"error": "manual_override must be a boolean value"},
    )
    unknown = await api.request(
        "PUT",
        f"/api/conversations/{session_id()}/category-override",
        json={"manual_override": True},
        token=me.access,
    )
    assert unknown.status == 500
    assert unknown.body["error"] == "Failed to update category override setting"
    nothing = await api.post(f"/api/conversations/{session_id()}/categorize", token=me.access)
    assert nothing.body == {"success": False, "message": "Ticket not found"}


async def test_categories_and_templates_as_agents_read_them(api: Api, me: Login) -> None:
    """categoryController.js:59 and templateRoutes.js:10."""
    assert (await api.get("/api/categories")).status == 401
    listed = await api.get("/api/categories", token=me.access)
    assert listed.status == 200
    assert [c["name"] for c in listed.body["categories"]] == ["Billing", "Shipping"]
    billing = listed.body["categories"][0]
    assert billing["description"] == "invoice payment refund"
    assert billing["creator"]["email"] == ADMIN.email  # seeded by the first admin
    assert billing["creator_name"] == "Root Admin"
    assert (billing["can_edit"], billing["can_delete"], billing["ticket_count"]) == (
        False,
        False,
        0,
    )
    assert listed.body["pagination"] == {"page": 1, "limit": 50, "total": 2, "has_more": False}
    paged = await api.get("/api/categories?limit=1&include_archived=true", token=me.access)
    assert [c["name"] for c in paged.body["categories"]] == ["Billing"]
    assert paged.body["pagination"] == {"page": 1, "limit": 1, "total": 3, "has_more": True}
    found = await api.get("/api/categories?search=ship", token=me.access)
    assert [c["name"] for c in found.body["categories"]] == ["Shipping"]
    admin = await login(api, ADMIN)
    as_admin = await api.get("/api/categories", token=admin.access)
    assert as_admin.body["categories"][0]["can_delete"] is True
    assert (await api.get("/api/templates")).status == 401
    templates = await api.get("/api/templates", token=me.access)
    assert templates.status == 200
    assert [(t["title"], t["content"]) for t in templates.body["templates"]] == [
        ("Closing", "Glad to help. Goodbye!"),
        ("Greeting", "Hello! How can I help?"),
    ]
    assert templates.body["templates"][0]["is_active"] is True


async def test_seeded_entries_keep_their_ids_across_restarts(tmp_path: Any) -> None:
    """Categories and templates are matched by name and title when seeded again."""
    db = str(tmp_path / "production.db")
    ids = []
    for _ in range(2):
        async with production(db=db) as server, Api(server.url) as api:
            me = await login(api)
            categories = (await api.get("/api/categories", token=me.access)).body["categories"]
            templates = (await api.get("/api/templates", token=me.access)).body["templates"]
            ids.append(([c["id"] for c in categories], [t["id"] for t in templates]))
    assert ids[0] == ids[1]
