"""The resume file: where an `AgentClient` keeps its position across restarts of a process.

One small JSON object, ``{"url": ..., "last_seq": 41}`` (or ``"last_message_at":
"2026-11-26T10:00:00.000Z"`` on a server without seq), replaced atomically (written to a
temporary file in the same folder, then renamed), so that a crash leaves the old position
or the new one, never half of one. A file written for another server URL is not used: the
positions of one server mean nothing on another.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path

from ._timestamps import format_timestamp, parse_timestamp

__all__ = ["ResumeFile"]

LOGGER = logging.getLogger("vilnius_client")


class ResumeFile:
    """One resume file for one server URL."""

    def __init__(self, path: str | os.PathLike[str], url: str) -> None:
        self.path = Path(path)
        self.url = url.rstrip("/")
        self._saved: tuple[int | None, datetime | None] | None = None

    def load(self) -> tuple[int | None, datetime | None]:
        """The position saved (``last_seq``, ``last_message_at``); none for a missing file.

        Raises:
            ValueError: The file is not a resume file (with its path and why).
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise ValueError(f"resume_file {self.path}: cannot read it ({exc})") from None
        try:
            data = json.loads(text)
            url = data["url"]
            seq = data.get("last_seq")
            at = data.get("last_message_at")
            last_seq = None if seq is None else int(seq)
            last_at = None if at is None else parse_timestamp(at)
            if (last_seq is not None and last_seq < 0) or not isinstance(
                last_at, datetime | type(None)
            ):
                raise ValueError("not a position")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"resume_file {self.path} is not a resume file ({exc}); remove it to start "
                "at the end"
            ) from None
        if url != self.url:
            LOGGER.warning(
                "resume_file %s holds a position on %s, not %s: starting at the end",
                self.path,
                url,
                self.url,
            )
            return None, None
        self._saved = (last_seq, last_at)
        return last_seq, last_at

    def save(self, last_seq: int | None, last_message_at: datetime | None) -> None:
        """Write the position, if it changed since the last write."""
        if (last_seq, last_message_at) == self._saved:
            return
        data: dict[str, object] = {"url": self.url}
        if last_seq is not None:
            data["last_seq"] = last_seq
        if last_message_at is not None:
            data["last_message_at"] = format_timestamp(last_message_at)
        folder = self.path.parent
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._saved = (last_seq, last_message_at)
