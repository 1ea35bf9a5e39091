"""What a production server is set up with, for profile ``lizdeika``: suggestions, catalog, limits.

Production keeps its categories and canned answers (templates) in its database, where an
admin creates them, and asks an AI provider for suggestions and categorisations. The
reference server has neither an admin UI nor a provider: ``ProductionSettings`` seeds the
categories and templates at start (``--production-settings FILE``), and says which
deterministic texts stand in for the provider, as production's own fallback texts do when its
provider is down. ``load_production_settings`` reads the file:

```json
{
  "suggestions": ["Thanks! Let me check that for you."],
  "categories": [{"name": "Billing", "description": "invoices, payments", "color": "#FF0000"}],
  "templates": [{"title": "Greeting", "content": "Hello! How can I help?"}],
  "categorizationIdleMinutes": 15,
  "categorizationMinMessages": 3,
  "maxUploadMb": 10
}
```
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "DEFAULT_SUGGESTION",
    "CategorySeed",
    "ProductionSettings",
    "TemplateSeed",
    "load_production_settings",
    "seed_production",
]

DEFAULT_SUGGESTION = "Thanks for reaching out! An agent will look at your question shortly."
"""The suggestion text when none is configured."""

DEFAULT_COLOR = "#6B7280"
"""Production's default category colour."""

_COLOR = re.compile(r"^#[0-9A-F]{6}$", re.IGNORECASE)


@dataclass(frozen=True)
class CategorySeed:
    """A ticket category to create (kept, with its id, across restarts; matched by name).

    Attributes:
        name: Unique name, at most 100 characters (production's limit).
        description: Optional description (the categoriser reads it too).
        color: A ``#RRGGBB`` colour.
        archived: Archived categories are listed only on request and cannot be assigned.
    """

    name: str
    description: str | None = None
    color: str = DEFAULT_COLOR
    archived: bool = False

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name.strip()) > 100:
            raise ValueError(f"a category name must have 1 to 100 characters: {self.name!r}")
        if not _COLOR.match(self.color):
            raise ValueError(f"a category colour must be #RRGGBB: {self.color!r}")


@dataclass(frozen=True)
class TemplateSeed:
    """A response template (a canned answer agents pick); matched by title across restarts.

    Attributes:
        title: Its title.
        content: The text an agent sends.
        active: Inactive templates are not listed to agents.
    """

    title: str
    content: str
    active: bool = True

    def __post_init__(self) -> None:
        if not self.title.strip() or not self.content.strip():
            raise ValueError(f"a template needs a title and a content: {self.title!r}")


@dataclass(frozen=True)
class ProductionSettings:
    """How the ``lizdeika`` profile stands in for production's admin data and AI provider.

    Attributes:
        suggestions: The suggestion texts. Production picks one of its fallback texts by
            the length of the conversation's context (``len(context) % count``); so does
            the reference server, so one text makes every suggestion the same.
        categories: Ticket categories to create at start.
        templates: Response templates to create at start.
        categorization_idle_minutes: Minutes a conversation must be quiet before it may be
            categorised (production's ``AUTO_CATEGORIZATION_IDLE_MINUTES``).
        categorization_min_messages: Messages it needs first
            (``AUTO_CATEGORIZATION_MIN_MESSAGES``).
        max_upload_mb: Largest file upload, in MiB (``MAX_FILE_UPLOAD_SIZE_MB``).
    """

    suggestions: tuple[str, ...] = (DEFAULT_SUGGESTION,)
    categories: tuple[CategorySeed, ...] = field(default_factory=tuple)
    templates: tuple[TemplateSeed, ...] = field(default_factory=tuple)
    categorization_idle_minutes: float = 15.0
    categorization_min_messages: int = 3
    max_upload_mb: float = 10.0

    def __post_init__(self) -> None:
        if not self.suggestions or not all(text.strip() for text in self.suggestions):
            raise ValueError("at least one suggestion text, none of them blank")
        if self.max_upload_mb <= 0:
            raise ValueError("max_upload_mb must be positive")

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    def suggestion(self, context: str) -> str:
        """The suggestion for a conversation context, chosen as production's fallback is."""
        return self.suggestions[len(context) % len(self.suggestions)]

    @classmethod
    def from_dict(cls, data: Any) -> ProductionSettings:
        """Build settings from the JSON object of a settings file.

        Raises:
            ValueError: Not such an object, or a value out of range.
        """
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        known = {
            "suggestions",
            "categories",
            "templates",
            "categorizationIdleMinutes",
            "categorizationMinMessages",
            "maxUploadMb",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        try:
            suggestions = tuple(str(text) for text in data.get("suggestions", [DEFAULT_SUGGESTION]))
            categories = tuple(
                CategorySeed(
                    name=str(c["name"]).strip(),
                    description=c.get("description"),
                    color=str(c.get("color", DEFAULT_COLOR)),
                    archived=bool(c.get("archived", False)),
                )
                for c in data.get("categories", [])
            )
            templates = tuple(
                TemplateSeed(
                    title=str(t["title"]),
                    content=str(t["content"]),
                    active=bool(t.get("active", True)),
                )
                for t in data.get("templates", [])
            )
            return cls(
                suggestions=suggestions,
                categories=categories,
                templates=templates,
                categorization_idle_minutes=float(data.get("categorizationIdleMinutes", 15)),
                categorization_min_messages=int(data.get("categorizationMinMessages", 3)),
                max_upload_mb=float(data.get("maxUploadMb", 10)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed settings: {exc!r}") from None


def load_production_settings(path: str | Path) -> ProductionSettings:
    """Read ``ProductionSettings`` from a JSON file (the module docstring shows one).

    Raises:
        OSError: The file cannot be read.
        ValueError: It is not valid settings.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    try:
        return ProductionSettings.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def seed_production(store: Store, settings: ProductionSettings) -> None:
    """Create (or update) the settings' categories and templates.

    Runs inside a store transaction at start. Seeded entries are created by the first
    admin user (else the first user, else ``system``), as production's are by an admin.
    """
    users = store.users.all()
    creator = next((u for u in users if u.role == "admin"), users[0] if users else None)
    creator_id = creator.id if creator is not None else "system"
    for category in settings.categories:
        store.categories.put(
            category.name.strip(),
            category.description,
            category.color,
            creator_id,
            category.archived,
        )
    for template in settings.templates:
        store.templates.put(template.title, template.content, creator_id, template.active)
