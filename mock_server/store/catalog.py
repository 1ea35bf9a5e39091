"""The ``categories`` and ``templates`` tables: what production's admins set up for agents.

Profile ``lizdeika`` only. Both are seeded at start from ``ProductionSettings`` (matched by
name, or title, so that an entry keeps its id across restarts); agents only read them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from vilnius_client.events import format_timestamp, utcnow

from .journal import Table

__all__ = ["Categories", "Category", "Template", "Templates"]


@dataclass(frozen=True)
class Category:
    """A ticket category."""

    id: str
    name: str
    description: str | None
    color: str
    created_by: str
    is_archived: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Template:
    """A response template (a canned answer)."""

    id: str
    title: str
    content: str
    created_by: str
    is_active: bool
    created_at: str
    updated_at: str


def _now() -> str:
    return format_timestamp(utcnow())


class Categories(Table):
    """Every category, in memory."""

    _by_id: dict[str, Category]

    async def load(self) -> None:
        """(Re)read the table."""
        sql = (
            "SELECT id, name, description, color, created_by, is_archived, created_at, "
            "updated_at FROM categories"
        )
        self._by_id = {}
        for row in await self._db.execute_fetchall(sql):
            fields = list(row)
            fields[5] = bool(fields[5])
            self._by_id[str(row[0])] = Category(*fields)

    def all(self) -> list[Category]:
        """Every category, by name (production's order)."""
        return sorted(self._by_id.values(), key=lambda category: category.name)

    def get(self, category_id: object) -> Category | None:
        """One category by id, or ``None``."""
        return self._by_id.get(category_id) if isinstance(category_id, str) else None

    def put(
        self, name: str, description: str | None, color: str, created_by: str, archived: bool
    ) -> Category:
        """Create the category ``name``, or update the one of that name; return it."""
        old = next((c for c in self._by_id.values() if c.name == name), None)
        now = _now()
        category = Category(
            id=old.id if old is not None else str(uuid.uuid4()),
            name=name,
            description=description,
            color=color,
            created_by=old.created_by if old is not None else created_by,
            is_archived=archived,
            created_at=old.created_at if old is not None else now,
            updated_at=now,
        )
        journal = self._journal()
        journal.stage(
            "categories",
            "INSERT INTO categories (id, name, description, color, created_by, is_archived, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET description = excluded.description, "
            "color = excluded.color, is_archived = excluded.is_archived, "
            "updated_at = excluded.updated_at",
            (
                category.id,
                category.name,
                category.description,
                category.color,
                category.created_by,
                int(category.is_archived),
                category.created_at,
                category.updated_at,
            ),
        )
        journal.put(self._by_id, category.id, category)
        return category


class Templates(Table):
    """Every response template, in memory."""

    _by_id: dict[str, Template]

    async def load(self) -> None:
        """(Re)read the table."""
        sql = (
            "SELECT id, title, content, created_by, is_active, created_at, updated_at "
            "FROM templates"
        )
        self._by_id = {}
        for row in await self._db.execute_fetchall(sql):
            fields = list(row)
            fields[4] = bool(fields[4])
            self._by_id[str(row[0])] = Template(*fields)

    def all(self) -> list[Template]:
        """Every template, by title (production's order)."""
        return sorted(self._by_id.values(), key=lambda template: template.title)

    def put(self, title: str, content: str, created_by: str, active: bool) -> Template:
        """Create the template ``title``, or update the one of that title; return it."""
        old = next((t for t in self._by_id.values() if t.title == title), None)
        now = _now()
        template = Template(
            id=old.id if old is not None else str(uuid.uuid4()),
            title=title,
            content=content,
            created_by=old.created_by if old is not None else created_by,
            is_active=active,
            created_at=old.created_at if old is not None else now,
            updated_at=now,
        )
        journal = self._journal()
        journal.stage(
            "templates",
            "INSERT INTO templates (id, title, content, created_by, is_active, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET content = excluded.content, "
            "is_active = excluded.is_active, updated_at = excluded.updated_at",
            (
                template.id,
                template.title,
                template.content,
                template.created_by,
                int(template.is_active),
                template.created_at,
                template.updated_at,
            ),
        )
        journal.put(self._by_id, template.id, template)
        return template
