"""The public API is exactly what vilnius_client.__all__ lists, sorted."""

import vilnius_client


def isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: constants, classes, then the rest."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_all_is_sorted_and_unique() -> None:
    names = list(vilnius_client.__all__)
    assert names == sorted(set(names), key=isort_style)


def test_every_exported_name_exists() -> None:
    missing = [name for name in vilnius_client.__all__ if not hasattr(vilnius_client, name)]
    assert missing == []


def test_public_names_are_exported() -> None:
    # isidentifier(): pytest's assertion rewriting adds "@py_builtins" to plugin packages.
    public = {
        name
        for name, value in vars(vilnius_client).items()
        if name.isidentifier()
        and not name.startswith("_")
        and not getattr(value, "__name__", "").startswith("vilnius_client.")
    }
    assert public <= set(vilnius_client.__all__) | {
        "agent",
        "customer",
        "errors",
        "events",
        "manager",
        "rest",
        "testing",
        "sim",
    }
