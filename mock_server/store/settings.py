"""The ``meta`` table: the server's settings (system mode, token secrets)."""

from __future__ import annotations

from vilnius_client.events import SystemMode

from .journal import Table

__all__ = ["Settings"]


class Settings(Table):
    """The settings, in memory."""

    _values: dict[str, str]

    async def load(self) -> None:
        """(Re)read the table."""
        rows = list(await self._db.execute_fetchall("SELECT key, value FROM meta"))
        self._values = {str(row[0]): str(row[1]) for row in rows}

    def get(self, key: str) -> str | None:
        """Return a stored setting, or ``None``."""
        return self._values.get(key)

    def set(self, key: str, value: str) -> None:
        """Store a setting."""
        journal = self._journal()
        journal.stage(
            "meta",
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        journal.put(self._values, key, value)

    def system_mode(self) -> SystemMode:
        """Return the system mode (``hitl`` until set)."""
        value = self._values.get("system_mode")
        return SystemMode(value) if value else SystemMode.HITL

    def set_system_mode(self, mode: SystemMode) -> None:
        """Store the system mode."""
        self.set("system_mode", mode.value)
