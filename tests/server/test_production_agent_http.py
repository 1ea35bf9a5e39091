"""Profile ``lizdeika``: files, statistics ranges, and what Express does to every request.

Production (``custom-widget/backend/src`` at commit 0dec8e5) trusts its proxy (app.js:91),
tags every answer with a correlation id (correlationMiddleware.js:36), answers unknown
routes with Express's 404 page, and keeps uploads behind a rate limit (uploadRoutes.js).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from mock_server import RunningServer, ServerConfig, serve
from mock_server.options import parse_args, server_config
from mock_server.production_settings import ProductionSettings
from tests.server.helpers import TIMEOUT, Api
from tests.server.production_agent_support import (
    AGENT,
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
async def http(prod: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        prod.url, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    ) as session:
        yield session


def _form(
    content: bytes = b"hello",
    filename: str = "note.txt",
    content_type: str = "text/plain",
    field: str = "file",
    **fields: str,
) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)  # names as a browser sends them
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field(field, content, filename=filename, content_type=content_type)
    return form


def _from(ip: str, token: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": f"{ip}, 10.0.0.1"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def test_upload_and_download(prod: RunningServer, http: aiohttp.ClientSession) -> None:
    """uploadRoutes.js:151 (upload), :199 (download), fileValidation.js."""
    async with Api(prod.url) as api:
        me = await login(api)
    async with http.post(
        "/api/upload",
        data=_form(b"%PDF-1.4", "my form (1).pdf", "application/pdf"),
        headers=_from("198.51.100.1", me.access),
    ) as response:
        assert response.status == 200
        uploaded = await response.json()
    file = uploaded["file"]
    assert uploaded["success"] is True
    assert file["filename"] == "my form (1).pdf"
    assert file["storedFilename"].endswith("-my_form__1_.pdf")
    assert uuid.UUID(file["storedFilename"][:36])
    assert (file["mimetype"], file["size"]) == ("application/pdf", 8)
    assert file["url"] == f"/api/uploads/{file['storedFilename']}"
    # not linked to any message yet: anyone may read it (production's "orphaned" files)
    async with http.get(file["url"]) as response:
        assert response.status == 200
        assert response.content_type == "application/pdf"
        assert await response.read() == b"%PDF-1.4"
    # once a reply carries it, a customer needs its conversation's id; agents need nothing
    conversation = session_id()
    async with Api(prod.url) as api:
        await customer_says(api, conversation, "Send the form")
        reply = {
            "conversationId": conversation,
            "message": "Here it is",
            "agentId": me.id,
            "messageType": "file",
            "fileMetadata": file,
        }
        assert (await api.post("/api/agent/respond", reply)).status == 200
    async with http.get(file["url"]) as response:
        assert response.status == 403
        assert (await response.json())["code"] == "ACCESS_DENIED"
    async with http.get(file["url"], params={"conversationId": session_id()}) as response:
        assert response.status == 403
        assert (await response.json())["code"] == "INVALID_CONVERSATION"
    async with http.get(file["url"], params={"conversationId": conversation}) as response:
        assert response.status == 200
    async with http.get(file["url"], headers={"Authorization": f"Bearer {me.access}"}) as got:
        assert got.status == 200
        assert await got.read() == b"%PDF-1.4"
    async with http.get(file["url"], headers={"Authorization": "Bearer forged"}) as response:
        assert response.status == 401
    async with http.get("/api/uploads/nothing-here.txt") as response:
        assert response.status == 404
        assert await response.json() == {"success": False, "error": "File not found"}


async def test_upload_refusals(prod: RunningServer, http: aiohttp.ClientSession) -> None:
    """uploadRoutes.js:118 (types), :141 (size, one file), :155 (who may upload)."""

    async def upload(form: aiohttp.FormData | None, ip: str, **body: str) -> tuple[int, object]:
        data = form if form is not None else None
        async with http.post(
            "/api/upload", data=data, json=body or None, headers=_from(ip)
        ) as response:
            return response.status, await response.json()

    assert await upload(_form(), "192.0.2.1") == (
        401,
        {
            "success": False,
            "error": "Authentication or valid conversation required for file upload",
            "code": "AUTH_REQUIRED",
        },
    )
    conversation = {"conversationId": session_id()}
    assert (await upload(_form(**conversation), "192.0.2.2"))[0] == 200  # a customer's
    assert await upload(
        _form(b"MZ", "x.exe", "application/x-msdownload", **conversation), "192.0.2.3"
    ) == (
        500,
        {
            "success": False,
            "error": "Invalid file type. Allowed: images, PDF, DOC, DOCX, XLS, XLSX, TXT",
        },
    )
    assert await upload(_form(field="attachment", **conversation), "192.0.2.4") == (
        500,
        {"success": False, "error": "Unexpected field"},
    )
    assert await upload(None, "192.0.2.5", **conversation) == (
        400,
        {"success": False, "error": "No file uploaded"},
    )
    small = ProductionSettings(max_upload_mb=0.001)  # 1,048 bytes
    async with production(production=small) as server, aiohttp.ClientSession(server.url) as s:
        form = _form(b"x" * 2000, **conversation)
        async with s.post("/api/upload", data=form) as response:
            assert response.status == 500
            assert await response.json() == {"success": False, "error": "File too large"}


async def test_uploads_are_limited_per_forwarded_address(http: aiohttp.ClientSession) -> None:
    """uploadRoutes.js:62: 5 per minute per ``req.ip``, the left-most X-Forwarded-For."""
    conversation = {"conversationId": session_id()}
    for _ in range(5):
        async with http.post(
            "/api/upload", data=_form(**conversation), headers=_from("203.0.113.7")
        ) as response:
            assert response.status == 200
    async with http.post(
        "/api/upload", data=_form(**conversation), headers=_from("203.0.113.7")
    ) as response:
        assert response.status == 429
        assert (await response.json())["code"] == "UPLOAD_RATE_LIMIT_EXCEEDED"
        assert int(response.headers["Retry-After"]) > 0
    # the same proxy, another client
    async with http.post(
        "/api/upload", data=_form(**conversation), headers=_from("203.0.113.8")
    ) as response:
        assert response.status == 200


async def test_messages_are_limited_per_forwarded_address() -> None:
    """conversationRoutes.js:67 keys on ``req.ip``; with ``trust proxy`` (app.js:91) that is
    the left-most X-Forwarded-For."""
    async with production(message_rate_limit="default") as server, Api(server.url) as api:
        conversation = session_id()
        body = {"conversationId": conversation, "message": "hi"}
        for _ in range(10):
            sent = await api.post("/api/messages", body, headers=_from("198.51.100.20"))
            assert sent.status == 200
        refused = await api.post("/api/messages", body, headers=_from("198.51.100.20"))
        assert refused.status == 429
        other = await api.post("/api/messages", body, headers=_from("198.51.100.21"))
        assert other.status == 200


async def test_statistics_ranges(prod: RunningServer) -> None:
    """statisticsController.js:237 (trends), :282 (parseDateRange)."""
    async with Api(prod.url) as api:
        me = await login(api)
        for _ in range(2):
            await customer_says(api, session_id(), "Hello")
        trends = await api.get("/api/statistics/trends?granularity=month", token=me.access)
        assert trends.status == 200, trends.body
        data = trends.body["data"]
        assert sum(bucket["count"] for bucket in data["conversationTrends"]) == 2
        assert all(len(bucket["date"]) == 7 for bucket in data["conversationTrends"])
        assert sum(hour["count"] for hour in data["peakHours"]["byHour"]) == 2
        assert data["peakHours"]["byDay"][0]["day"] == "Sunday"
        assert trends.body["meta"]["granularity"] == "month"
        bad = await api.get("/api/statistics/trends?granularity=year", token=me.access)
        assert (bad.status, bad.body) == (
            400,
            {"success": False, "error": "Invalid granularity. Must be one of: day, week, month"},
        )
        # production throws a class it never imported: 500, whatever the problem
        broken = {"success": False, "error": "ValidationError is not a constructor"}
        for query in (
            "startDate=yesterday",
            "startDate=2026-03-01&endDate=2026-02-01",
            "startDate=2024-01-01&endDate=2026-01-01",
        ):
            refused = await api.get(f"/api/statistics/dashboard?{query}", token=me.access)
            assert (refused.status, refused.body) == (500, broken), query
        day = await api.get(
            "/api/statistics/conversations?startDate=2020-01-01&endDate=2020-01-01",
            token=me.access,
        )
        assert day.body["meta"]["startDate"] == "2020-01-01T00:00:00.000Z"
        assert day.body["meta"]["endDate"] == "2020-01-01T23:59:59.999Z"
        assert day.body["data"]["total"] == 0
        everything = await api.get("/api/statistics/conversations", token=me.access)
        assert everything.body["data"]["byCategory"] == [
            {"category": {"name": "Uncategorized", "color": "#6B7280"}, "count": 2}
        ]
        for path in ("/api/statistics/dashboard", "/api/statistics/nothing"):
            assert (await api.get(path)).status == 401  # the router checks first


async def test_agent_status_and_listings(prod: RunningServer) -> None:
    """agentController.js:54 (status), :295 (active), :410 (all)."""
    async with Api(prod.url) as api:
        me = await login(api)
        idle = await api.get("/api/agent/status")
        assert idle.body == {"success": True, "status": "hitl", "agentCount": 0}
        async with dashboard(prod.url, me.id):
            status = await api.get("/api/agent/status")
            assert status.body == {"success": True, "status": "hitl", "agentCount": 1}
            active = await api.get("/api/agents")
            assert [a["id"] for a in active.body["agents"]] == [me.id]
            # only four legacy ids survive production's filter; agents are UUIDs there
            assert (await api.get("/api/agents/all")).body == {"agents": []}


async def test_widget_config_and_logout(prod: RunningServer) -> None:
    """widgetController.js:12; authRoutes.js:73, authService.js:482."""
    async with Api(prod.url) as api:
        config = await api.get("/api/widget/config")
        assert config.body == {
            "success": True,
            "data": {
                "name": "Lizdeika",
                "primaryColor": "#2c5530",
                "allowedDomains": ["*"],
                "serverUrl": prod.url,
            },
        }
        me: Login = await login(api)
        async with dashboard(prod.url, me.id):
            listed = await api.get("/api/agents/connected")
            assert [a["id"] for a in listed.body["agents"]] == [me.id]
            out = await api.post("/api/auth/logout", {"refreshToken": me.refresh})
            assert out.body == {"success": True, "message": "Logout successful"}
            # the agent is offline now, and its refresh token is spent
            listed = await api.get("/api/agents/connected")
            assert listed.body["agents"] == []
        spent = await api.post("/api/auth/refresh", {"refreshToken": me.refresh})
        assert spent.status == 401
        again = await api.post("/api/auth/logout", {"refreshToken": "not-a-token"})
        assert again.body["success"] is True
        invalid = await api.post("/api/auth/logout", {})
        assert invalid.status == 400
        assert invalid.body["details"] == [{"field": "refreshToken", "message": "Required"}]


async def test_unknown_routes_and_methods_get_express_s_404_page(
    http: aiohttp.ClientSession,
) -> None:
    """Express answers what no route took with finalhandler's page, never 405."""
    for method, path in (
        ("GET", "/api/nothing"),
        ("DELETE", "/api/agent/respond"),
        ("PUT", "/api/messages"),
        ("GET", "/api/conversations/x/y/z"),
    ):
        async with http.request(method, path) as response:
            assert response.status == 404, (method, path)
            assert response.content_type == "text/html"
            assert response.headers["Content-Security-Policy"] == "default-src 'none'"
            page = await response.text()
            assert f"<pre>Cannot {method} {path}</pre>" in page
            assert page.startswith("<!DOCTYPE html>")
    async with http.get("/api/<script>") as response:
        assert "Cannot GET /api/%3Cscript%3E" in await response.text()


async def test_answers_carry_the_correlation_id(
    prod: RunningServer, http: aiohttp.ClientSession
) -> None:
    """correlationMiddleware.js:36: echoed, or ``req_<uuid>``; errors and 404s too."""
    async with http.get("/health", headers={"X-Correlation-ID": "qa-1"}) as response:
        assert response.headers["X-Correlation-ID"] == "qa-1"
    async with http.get("/api/system/mode") as response:
        generated = response.headers["X-Correlation-ID"]
        assert generated.startswith("req_")
        assert uuid.UUID(generated.removeprefix("req_"))
    async with http.get("/api/templates", headers={"X-Correlation-ID": "qa-2"}) as response:
        assert response.status == 401
        assert response.headers["X-Correlation-ID"] == "qa-2"
    async with http.get("/nowhere", headers={"X-Correlation-ID": "qa-3"}) as response:
        assert response.headers["X-Correlation-ID"] == "qa-3"
    async with (
        serve(db=":memory:", auth="none") as contract,
        aiohttp.ClientSession() as session,
        session.get(contract.url + "/health") as response,
    ):
        assert "X-Correlation-ID" not in response.headers  # not part of our contract


async def test_each_profile_has_its_own_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``./dev server`` then ``./dev server --profile lizdeika`` no longer share a file."""
    assert server_config(parse_args([])).database == "vilnius.db"
    assert server_config(parse_args(["--profile", "lizdeika"])).database == "lizdeika.db"
    assert server_config(parse_args(["--profile", "lizdeika", "--db", "x.db"])).database == "x.db"
    monkeypatch.chdir(tmp_path)
    async with serve(config=ServerConfig(port=0, auth="none")) as ours, Api(ours.url) as api:
        created = await api.post("/api/conversations", {})
        assert created.status == 201
    async with (
        serve(config=ServerConfig(port=0, profile="lizdeika", agent_users=(AGENT,))) as theirs,
        Api(theirs.url) as api,
    ):
        assert (await api.get("/api/admin/conversations")).body["conversations"] == []
    assert _databases(tmp_path) == ["lizdeika.db", "vilnius.db"]


def _databases(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.suffix == ".db" and p.stat().st_size)
