"""The seam around library internals: every name checked, a missing one switches its fast
path off once with a warning, ``VILNIUS_FAST_PATHS=0`` switches every fast path off."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from vilnius_client import _fastpath
from vilnius_client._fastpath import (
    ENVIRONMENT_VARIABLE,
    REQUIREMENTS,
    FastPaths,
    _owners,
    _resolve,
    missing_names,
)

ALL_ON = FastPaths(inline_events=True, read_loop=True)


class Without:
    """``owner`` as seen by a library version that lacks ``names``."""

    def __init__(self, owner: object, *names: str) -> None:
        self._owner = owner
        self._names = set(names)

    def __getattr__(self, name: str) -> Any:
        if name in self._names:
            raise AttributeError(name)
        return getattr(self._owner, name)


def owners_without(removed: dict[str, tuple[str, ...]]) -> Callable[[], Mapping[str, object]]:
    def owners() -> Mapping[str, object]:
        real = dict(_owners())
        for owner, names in removed.items():
            real[owner] = Without(real[owner], *names)
        return real

    return owners


@pytest.fixture(autouse=True)
def _forget_the_check() -> Iterator[None]:
    _fastpath.reset()
    yield
    _fastpath.reset()


def test_every_internal_is_present_in_the_installed_libraries() -> None:
    assert missing_names(REQUIREMENTS, _owners()) == {}
    assert _resolve(REQUIREMENTS, _owners, {}) == ALL_ON


def test_every_name_is_listed_once_per_fast_path() -> None:
    assert len(set(REQUIREMENTS)) == len(REQUIREMENTS)
    assert {r.path for r in REQUIREMENTS} == {"inline_events", "read_loop"}
    # Instance attributes and nested names are checked too, not just methods.
    names = {str(r) for r in REQUIREMENTS}
    assert "engineio.AsyncClient().ws" in names
    assert "engineio.AsyncClient.reason.TRANSPORT_ERROR" in names


def test_a_missing_name_switches_its_fast_path_off_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owners = owners_without({"engineio.AsyncClient": ("_read_loop_websocket", "_reset")})
    with caplog.at_level(logging.WARNING, logger="vilnius_client"):
        paths = _resolve(REQUIREMENTS, owners, {})
    assert paths == FastPaths(inline_events=True, read_loop=False)
    (warning,) = caplog.records
    # Every missing name is named, not just the first one found.
    assert "'read_loop'" in warning.getMessage()
    assert "engineio.AsyncClient._read_loop_websocket" in warning.getMessage()
    assert "engineio.AsyncClient._reset" in warning.getMessage()


def test_a_missing_nested_or_instance_name_counts() -> None:
    nested = missing_names(
        REQUIREMENTS,
        owners_without({"engineio.AsyncClient": ("reason",)})(),
    )
    assert nested == {"read_loop": ["engineio.AsyncClient.reason.TRANSPORT_ERROR"]}
    instance = missing_names(REQUIREMENTS, owners_without({"socketio.AsyncClient()": ("eio",)})())
    assert instance == {"inline_events": ["socketio.AsyncClient().eio"]}


def test_the_read_loop_needs_the_inline_path(caplog: pytest.LogCaptureFixture) -> None:
    owners = owners_without({"socketio.AsyncClient": ("_handle_eio_message",)})
    with caplog.at_level(logging.WARNING, logger="vilnius_client"):
        assert _resolve(REQUIREMENTS, owners, {}) == FastPaths()
    assert len(caplog.records) == 1  # only the inline path lacks something


@pytest.mark.parametrize("value", ["0", "false", "OFF", " no "])
def test_the_environment_variable_switches_every_fast_path_off(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    def never() -> Mapping[str, object]:
        raise AssertionError("the internals are not even looked at")

    with caplog.at_level(logging.WARNING, logger="vilnius_client"):
        assert _resolve(REQUIREMENTS, never, {ENVIRONMENT_VARIABLE: value}) == FastPaths()
    assert not caplog.records  # asked for: no warning


@pytest.mark.parametrize("value", ["1", "", "on"])
def test_other_values_keep_the_fast_paths(value: str) -> None:
    assert _resolve(REQUIREMENTS, _owners, {ENVIRONMENT_VARIABLE: value}) == ALL_ON


def test_the_check_runs_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    calls = 0

    def counting() -> Mapping[str, object]:
        nonlocal calls
        calls += 1
        return _owners()

    monkeypatch.setattr(_fastpath, "_owners", counting)
    assert _fastpath.fast_paths() == ALL_ON
    assert _fastpath.fast_paths() == ALL_ON
    assert calls == 1
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "0")
    assert _fastpath.fast_paths() == ALL_ON  # remembered
    _fastpath.reset()
    assert _fastpath.fast_paths() == FastPaths()
