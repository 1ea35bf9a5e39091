"""The public API is exactly what vilnius_client.__all__ lists, sorted."""

import vilnius_client


def test_all_is_sorted_and_unique() -> None:
    assert list(vilnius_client.__all__) == sorted(set(vilnius_client.__all__))


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
