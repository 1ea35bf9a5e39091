"""ConnectionOptions names each manager keyword the clients pass on, typed as the manager does."""

from __future__ import annotations

import inspect
import typing

import vilnius_client
from vilnius_client import AgentClient, ConnectionOptions, CustomerClient, ModernWebSocketManager

#: What the role clients decide themselves instead of passing on.
SET_BY_THE_CLIENTS = {"url", "agent_id", "token", "server"}


def test_the_options_are_the_managers_keywords() -> None:
    manager = inspect.signature(ModernWebSocketManager).parameters
    assert set(ConnectionOptions.__annotations__) == set(manager) - SET_BY_THE_CLIENTS


def test_each_option_is_typed_as_the_managers_keyword() -> None:
    namespace = vars(vilnius_client.manager) | vars(vilnius_client)
    manager = typing.get_type_hints(ModernWebSocketManager.__init__, namespace)
    options = typing.get_type_hints(ConnectionOptions)
    assert {name: manager[name] for name in options} == options


def test_both_clients_take_them() -> None:
    for client in (AgentClient, CustomerClient):
        kwargs = inspect.signature(client).parameters["options"]
        assert kwargs.kind is inspect.Parameter.VAR_KEYWORD
