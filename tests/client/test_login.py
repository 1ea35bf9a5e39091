"""Production's agent login through AgentClient: e-mail, password, TOTP, refresh, 401s."""

from __future__ import annotations

import asyncio
import uuid

import pyotp
import pytest

from mock_server import AgentUser, serve
from tests.conftest import scaled
from tests.deployments import USERS, server_config
from vilnius_client import AgentClient, AuthError, Credentials, PersonalStatus

from .conftest import FAST

SECRET = pyotp.random_base32()
GUARDED = AgentUser("guarded@example.com", "guarded-password", "Guarded", totp_secret=SECRET)


async def test_login_gives_the_agent_id_and_jwt_calls_work() -> None:
    ada = USERS["ada"]
    async with (
        serve(config=server_config("lizdeika")) as production,
        AgentClient(production.url, email=ada.email, password=ada.password, **FAST) as bot,
    ):
        assert bot.agent_id is not None
        assert uuid.UUID(bot.agent_id)
        assert bot.user is not None
        assert bot.user["email"] == ada.email
        agents = await bot.request_current_state("connected-agents", timeout=scaled(5))
        assert bot.agent_id in {agent.id for agent in agents}
        cid = "session-login1"
        await bot.rest.post_message(cid, "hello")
        # assign and bulk-assign need the access token (JWT) there: the client sends it.
        assert (await bot.assign(cid)).assigned_agent == bot.agent_id
        assert await bot.bulk_assign([cid]) == 1
        await bot.end_conversation(cid)


async def test_wrong_password_is_refused_at_once() -> None:
    async with serve(config=server_config("lizdeika")) as production:
        bot = AgentClient(production.url, email="ada@example.com", password="wrong", **FAST)
        with pytest.raises(AuthError, match="login refused"):
            await asyncio.wait_for(bot.connect(), scaled(5))
        await bot.disconnect()


async def test_two_factor_accounts_need_totp() -> None:
    config = server_config("lizdeika", agent_users=(GUARDED,))
    async with serve(config=config) as production:
        without = AgentClient(production.url, email=GUARDED.email, password=GUARDED.password)
        with pytest.raises(AuthError, match="two-factor"):
            await asyncio.wait_for(without.connect(), scaled(5))
        await without.disconnect()
        wrong = AgentClient(
            production.url,
            credentials=Credentials(GUARDED.email, GUARDED.password, totp="000000"),
        )
        if pyotp.TOTP(SECRET).verify("000000", valid_window=1):  # pragma: no cover - 1 in 10^5
            pytest.skip("000000 happens to be valid right now")
        with pytest.raises(AuthError, match="2FA"):
            await asyncio.wait_for(wrong.connect(), scaled(5))
        await wrong.disconnect()
        async with AgentClient(
            production.url,
            email=GUARDED.email,
            password=GUARDED.password,
            totp=lambda: pyotp.TOTP(SECRET).now(),
            **FAST,
        ) as bot:
            assert bot.user is not None
            assert bot.user["totp_enabled"] is True


async def test_the_access_token_is_renewed_before_it_expires() -> None:
    """One-second access tokens: JWT-only calls keep working long after the first expired."""
    ada = USERS["ada"]
    async with (
        serve(config=server_config("lizdeika", access_token_ttl=1)) as production,
        AgentClient(production.url, email=ada.email, password=ada.password, **FAST) as bot,
    ):
        cid = "session-renew1"
        await bot.rest.post_message(cid, "hello")
        for _ in range(2):
            await asyncio.sleep(1.2)  # the tokens' lifetime itself is what is tested
            assert (await bot.assign(cid)).assigned_agent == bot.agent_id
        status = await bot.set_personal_status("online")
        assert status.agent.personal_status is PersonalStatus.ONLINE


def test_credentials_are_checked_when_the_client_is_made() -> None:
    url = "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="not both"):
        AgentClient(url, email="a@example.com", password="p", agent_key="k")
    with pytest.raises(ValueError, match="do not pass agent_id"):
        AgentClient(url, agent_id="a1", email="a@example.com", password="p")
    with pytest.raises(ValueError, match="email and password"):
        AgentClient(url, email="a@example.com")
    with pytest.raises(ValueError, match="agent_id"):
        AgentClient(url)
    assert "p4ss" not in repr(Credentials("a@example.com", "p4ss", totp="123456"))
