"""Profile ``lizdeika``: what production's own web clients call besides the chat API.

Each answer is checked against production's backend at 0dec8e5 (``authRoutes.js``,
``authController.js``, ``authMiddleware.js``, ``userController.js``, ``systemRoutes.js`` +
``settingsService.js``, ``logsRoutes.js``): its guards, status codes and bodies. The order in
which the pages call them is replayed by ``tests/interop/production_web_flows.js``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pyotp
import pytest

from mock_server import AgentUser, RunningServer, ServerConfig, serve
from mock_server.console.feed import redact
from mock_server.rest.production_web import GENERAL_LIMIT, PRIVACY_TEXT
from tests.server.helpers import Api

AGENT = AgentUser("agent@example.com", "agent-pass", "Agent Smith")
ADMIN = AgentUser("admin@example.com", "admin-pass", "Ada Admin", role="admin")
GUARDED_SECRET = pyotp.random_base32()
GUARDED = AgentUser("guarded@example.com", "s3cret", totp_secret=GUARDED_SECRET)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
async def prod(tmp_path: Any) -> AsyncIterator[RunningServer]:
    config = ServerConfig(
        port=0,
        db=str(tmp_path / "production.db"),
        profile="lizdeika",
        agent_users=(AGENT, ADMIN, GUARDED),
    )
    async with serve(config=config) as running:
        yield running


async def _login(api: Api, user: AgentUser = AGENT, **extra: str) -> dict[str, Any]:
    reply = await api.post(
        "/api/auth/login", {"email": user.email, "password": user.password, **extra}
    )
    assert reply.status == 200, reply.body
    data: dict[str, Any] = reply.body["data"]
    return data


async def _token(api: Api, user: AgentUser = AGENT) -> tuple[str, str]:
    """``(user id, access token)`` of a fresh login."""
    data = await _login(api, user)
    return data["user"]["id"], data["tokens"]["accessToken"]


# -- token check, role check, auth status (authRoutes.js:97-124) ---------------------------


async def test_verify_answers_the_tokens_user(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        user_id, token = await _token(api)
        reply = await api.get("/api/auth/verify", token=token)
    assert reply.status == 200
    assert reply.body == {
        "success": True,
        "message": "Token is valid",
        "data": {"user": {"id": user_id, "email": AGENT.email, "role": "agent"}},
    }
    assert reply.headers["RateLimit-Policy"] == "100;w=900"


@pytest.mark.parametrize("path", ["/api/auth/verify", "/api/auth/profile"])
async def test_a_missing_or_bad_token_is_refused(prod: RunningServer, path: str) -> None:
    async with Api(prod.url) as api:
        data = await _login(api)
        missing = await api.get(path)
        forged = await api.get(path, token="forged")
        refresh = await api.get(path, token=data["tokens"]["refreshToken"])
        not_bearer = await api.get(path, headers={"Authorization": data["tokens"]["accessToken"]})
    assert (missing.status, missing.body) == (
        401,
        {"success": False, "error": "Access token required", "code": "TOKEN_MISSING"},
    )
    for refused in (forged, refresh):
        assert (refused.status, refused.body) == (
            401,
            {"success": False, "error": "Invalid access token", "code": "TOKEN_INVALID"},
        )
    assert not_bearer.body["code"] == "TOKEN_MISSING"


async def test_profile_is_the_user_row_with_its_agent_status(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        user_id, token = await _token(api)
        before = await api.get("/api/auth/profile", token=token)
        status = {"agentId": user_id, "personalStatus": "online"}
        assert (await api.post("/api/agent/personal-status", status)).status == 200
        after = await api.get("/api/auth/profile", token=token)
        _, admin_token = await _token(api, ADMIN)
        admin = await api.get("/api/auth/profile", token=admin_token)
    assert before.status == 200
    profile = before.body["data"]
    assert before.body["success"] is True
    assert profile == {
        "id": user_id,
        "email": AGENT.email,
        "first_name": "Agent",
        "last_name": "Smith",
        "role": "agent",
        "email_verified": False,
        "is_active": True,
        "last_login": None,
        "created_at": profile["created_at"],
        "agent_status": None,
    }
    assert ISO.match(profile["created_at"])
    agent_status = after.body["data"]["agent_status"]
    assert agent_status["status"] == "online"
    assert ISO.match(agent_status["updated_at"])
    assert admin.body["data"]["role"] == "admin"  # what the dashboard's admin check reads


async def test_status_answers_with_and_without_a_token(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        user_id, token = await _token(api)
        anonymous = await api.get("/api/auth/status")
        known = await api.get("/api/auth/status", token=token)
        forged = await api.get("/api/auth/status", token="forged")
    assert anonymous.body == {"success": True, "data": {"isAuthenticated": False, "user": None}}
    assert known.body == {
        "success": True,
        "data": {
            "isAuthenticated": True,
            "user": {"id": user_id, "email": AGENT.email, "role": "agent"},
        },
    }
    assert (forged.status, forged.body["code"]) == (401, "TOKEN_INVALID")


async def test_verify_profile_and_status_share_production_general_limit(
    prod: RunningServer,
) -> None:
    async with Api(prod.url) as api:
        _, token = await _token(api)
        paths = ["/api/auth/verify", "/api/auth/profile", "/api/auth/status"]
        for number in range(GENERAL_LIMIT.limit):
            reply = await api.get(paths[number % 3], token=token)
            assert reply.status == 200, (number, reply.body)
        assert reply.headers["RateLimit-Remaining"] == "0"
    # the refusal is text, which Api does not read
    async with (
        aiohttp.ClientSession() as session,
        session.get(prod.url + "/api/auth/verify") as refused,
    ):
        text = await refused.text()
    assert refused.status == 429
    assert refused.content_type == "text/html"  # express-rate-limit's default answer
    assert int(refused.headers["Retry-After"]) > 0
    assert text == "Too many requests, please try again later."


# -- 2FA setup (userRoutes.js:13-14, userController.js:589-782) ----------------------------


async def test_setup_then_verify_turns_2fa_on_for_the_next_login(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        user_id, token = await _token(api)
        path = f"/api/users/{user_id}/totp"
        reply = await api.post(f"{path}/initiate", token=token)
        assert reply.status == 200, reply.body
        data = reply.body["data"]
        assert reply.body["success"] is True
        assert reply.body["message"] == "2FA setup initiated"
        assert set(data) == {"qrCode", "otpauthUri", "manualEntryKey", "backupCodes"}
        assert data["qrCode"].startswith("data:image/png;base64,")
        secret = data["manualEntryKey"]
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert data["otpauthUri"].startswith("otpauth://totp/Lizdeika:agent%40example.com?")
        assert f"secret={secret}" in data["otpauthUri"]
        assert len(data["backupCodes"]) == 10
        assert all(re.fullmatch(r"[0-9A-F]{8}", code) for code in data["backupCodes"])
        assert reply.headers["Cache-Control"] == "no-store, no-cache, must-revalidate, max-age=0"
        assert reply.headers["Pragma"] == "no-cache"

        # not on yet: the login asks for no code
        assert "requiresTotp" not in (await api.post("/api/auth/login", _credentials())).body
        missing = await api.post(f"{path}/verify", {}, token=token)
        assert (missing.status, missing.body) == (
            400,
            {"success": False, "error": "6-digit code is required"},
        )
        wrong = await api.post(f"{path}/verify", {"code": _wrong(secret)}, token=token)
        assert (wrong.status, wrong.body) == (
            400,
            {"success": False, "error": "Invalid code. Please try again."},
        )
        right = await api.post(f"{path}/verify", {"code": pyotp.TOTP(secret).now()}, token=token)
        assert (right.status, right.body) == (
            200,
            {"success": True, "message": "2FA enabled successfully"},
        )

        challenge = await api.post("/api/auth/login", _credentials())
        assert challenge.body["requiresTotp"] is True
        await _login(api, totpCode=pyotp.TOTP(secret).now())
        again = await api.post(f"{path}/initiate", token=token)
        assert (again.status, again.body["error"]) == (
            400,
            "2FA is already enabled for this user. Disable it first to re-initialize.",
        )
        twice = await api.post(f"{path}/verify", {"code": "123456"}, token=token)
        assert (twice.status, twice.body["error"]) == (400, "2FA is already enabled")


async def test_the_console_never_shows_the_2fa_secret(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        user_id, token = await _token(api)
        reply = await api.post(f"/api/users/{user_id}/totp/initiate", token=token)
    keys = ("qrCode", "otpauthUri", "manualEntryKey", "backupCodes")
    assert redact(reply.body)["data"] == dict.fromkeys(keys, "***")


async def test_verify_before_initiate_is_refused(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        user_id, token = await _token(api)
        reply = await api.post(f"/api/users/{user_id}/totp/verify", {"code": "123456"}, token=token)
    assert (reply.status, reply.body) == (
        400,
        {"success": False, "error": "2FA not initiated. Please initiate setup first."},
    )


async def test_an_initiated_secret_survives_a_restart(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        user_id, token = await _token(api)
        reply = await api.post(f"/api/users/{user_id}/totp/initiate", token=token)
        secret = reply.body["data"]["manualEntryKey"]
    await prod.stop()
    await prod.start()
    async with Api(prod.url) as api:
        code = {"code": pyotp.TOTP(secret).now()}
        reply = await api.post(f"/api/users/{user_id}/totp/verify", code, token=token)
    assert reply.status == 200, reply.body


async def test_2fa_setup_guards(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        agent_id, token = await _token(api)
        admin_id, admin_token = await _token(api, ADMIN)
        missing = await api.post(f"/api/users/{agent_id}/totp/initiate")
        forged = await api.post(f"/api/users/{agent_id}/totp/initiate", token="forged")
        other = await api.post(f"/api/users/{admin_id}/totp/initiate", token=token)
        by_admin = await api.post(f"/api/users/{agent_id}/totp/initiate", token=admin_token)
        unknown = await api.post("/api/users/no-such-user/totp/initiate", token=admin_token)
        guarded = await _login(api, GUARDED, totpCode=pyotp.TOTP(GUARDED_SECRET).now())
        enabled = await api.post(
            f"/api/users/{guarded['user']['id']}/totp/initiate",
            token=guarded["tokens"]["accessToken"],
        )
    assert (missing.status, missing.body) == (
        401,
        {"success": False, "error": "Setup token required", "code": "TOKEN_MISSING"},
    )
    assert (forged.status, forged.body) == (
        401,
        {"success": False, "error": "Invalid or expired token", "code": "TOKEN_INVALID"},
    )
    assert (other.status, other.body) == (
        403,
        {"success": False, "error": "Forbidden", "code": "FORBIDDEN"},
    )
    assert by_admin.status == 200  # an admin sets up anyone's
    assert (unknown.status, unknown.body) == (404, {"success": False, "error": "User not found"})
    assert enabled.status == 400


# -- the widget's privacy text (systemRoutes.js:323, seed.js:121-141) ---------------------


async def test_branding_has_the_seeded_privacy_text(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        reply = await api.get("/api/config/branding")
    assert reply.status == 200
    setting = reply.body["data"]["privacy_checkbox_text"]
    assert reply.body["success"] is True
    assert set(reply.body["data"]) == {"privacy_checkbox_text"}
    assert setting == {
        "value": PRIVACY_TEXT,
        "type": "string",
        "description": "Text shown in the privacy policy checkbox (supports Markdown)",
        "isPublic": True,
        "updatedAt": setting["updatedAt"],
    }
    assert ISO.match(setting["updatedAt"])


# -- the pages' error reports (logsRoutes.js:300) ------------------------------------------


async def test_frontend_logs_are_logged(
    prod: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    report = {
        "level": "ERROR",
        "message": "Failed to load templates",
        "correlationId": "corr-1",
        "module": "agent-dashboard",
        "metadata": {"url": "http://x/agent-dashboard.html"},
    }
    with caplog.at_level(logging.INFO, logger="mock_server.frontend"):
        async with Api(prod.url) as api:
            ok = await api.post("/api/logs/frontend", report)
            empty = await api.post("/api/logs/frontend", {"level": "info"})
            odd = await api.post("/api/logs/frontend", {"message": "x", "level": 3})
    assert (ok.status, ok.body) == (200, {"success": True})
    assert (empty.status, empty.body) == (400, {"success": False, "error": "Message is required"})
    assert (odd.status, odd.body) == (
        500,
        {"success": False, "error": "Failed to store frontend log"},
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "mock_server.frontend"]
    assert lines == ["error from 127.0.0.1 [agent-dashboard] Failed to load templates"]


def _credentials() -> dict[str, str]:
    return {"email": AGENT.email, "password": AGENT.password}


def _wrong(secret: str) -> str:
    """A six-digit code that is none of the codes the verification accepts now."""
    totp, now = pyotp.TOTP(secret), time.time()
    accepted = {totp.at(now, counter_offset=step) for step in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)
