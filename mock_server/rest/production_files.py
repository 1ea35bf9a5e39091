"""Production's file attachments (profile ``lizdeika``): uploads, downloads, file metadata.

Read from production's ``routes/uploadRoutes.js`` and ``utils/fileValidation.js``:

- ``POST /api/upload`` (uploadRoutes.js:151): multipart, one file in the field ``file``,
  5 requests per minute per client IP (counted before anything else), a JWT or a
  ``conversationId`` field; the file's type must be one of ``ALLOWED_MIMETYPES`` and its
  size at most ``ProductionSettings.max_upload_mb``. Production's upload middleware
  reports a refused type or size through its generic error handler: 500
  ``{success: false, error}``.
- ``GET /api/uploads/{filename}`` (uploadRoutes.js:199): a file linked to a message is
  served to agents and admins, or with the ``conversationId`` of its conversation; a file
  linked to none is served to anyone.
- ``validate_file_metadata`` is production's check of the ``fileMetadata`` a reply carries.

Files are kept in the database (``Store.uploads``), not on disk.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from ..errors import ServiceError
from ..hub import Hub
from ..ratelimit import FixedWindow, RateLimit
from ..wirejson import json_response
from .express import client_ip, fail, limited, read_body
from .production_auth import optional_jwt_user

__all__ = ["ALLOWED_MIMETYPES", "UPLOAD_LIMIT", "add_routes", "validate_file_metadata"]

ALLOWED_MIMETYPES = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/png",
        "image/gif",
        "image/webp",
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/plain",
    }
)
"""The file types production accepts, for uploads and in a message's file metadata."""

UPLOAD_LIMIT = RateLimit(5, 60.0)
"""Upload requests per client IP (production's ``uploadRateLimit``)."""

_UNSAFE = re.compile(r"[^a-zA-Z0-9.-]")


def validate_file_metadata(value: Any) -> dict[str, Any]:
    """``validateFileMetadata``: production's checked copy of a message's ``fileMetadata``.

    Raises:
        ValueError: The message production answers (after ``Invalid file metadata: ``).
    """
    url = value.get("url") if isinstance(value, dict) else None
    if not isinstance(url, str) or not url:
        raise ValueError("Invalid file URL")
    if not url.startswith("/api/uploads/"):
        raise ValueError("File URL must start with /api/uploads/")
    mimetype = value.get("mimetype")
    if mimetype not in ALLOWED_MIMETYPES:
        raise ValueError("Invalid or disallowed file type")
    try:
        size = int(str(value.get("size")).strip().split(".")[0])
    except ValueError:
        size = 0
    return {
        "filename": str(value.get("filename") or "")[:255],
        "storedFilename": str(value.get("storedFilename") or "")[:255],
        "mimetype": mimetype,
        "size": size,
        "url": url,
    }


def _error(message: str) -> ServiceError:
    """What production's error handler answers for a refused upload (500, no code)."""
    return fail(500, {"success": False, "error": message})


async def _read_upload(
    request: web.Request, limit: int
) -> tuple[dict[str, str], tuple[str, str, bytes] | None]:
    """The form fields and the one file (``filename, type, bytes``) of a multipart body."""
    fields: dict[str, str] = {}
    upload = None
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if isinstance(part, MultipartReader):  # nested multipart: multer rejects it too
            raise _error("Unexpected field")
        assert isinstance(part, BodyPartReader)
        if part.filename is None:
            fields[part.name or ""] = (await part.read(decode=True)).decode("utf-8", "replace")
            continue
        if part.name != "file" or upload is not None:
            raise _error("Unexpected field" if part.name != "file" else "Too many files")
        mimetype = part.headers.get("Content-Type", "application/octet-stream")
        if mimetype not in ALLOWED_MIMETYPES:
            raise _error("Invalid file type. Allowed: images, PDF, DOC, DOCX, XLS, XLSX, TXT")
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise _error("File too large")
        upload = (part.filename, mimetype, bytes(data))
    return fields, upload


def add_routes(routes: web.RouteTableDef, hub: Hub) -> None:
    """Add ``POST /api/upload`` and ``GET /api/uploads/{filename}`` to ``routes``."""
    uploads = FixedWindow(UPLOAD_LIMIT)

    @routes.post("/api/upload")
    async def upload(request: web.Request) -> web.Response:
        headers = limited(
            uploads,
            client_ip(request),
            {
                "success": False,
                "error": "Too many upload attempts. Please wait before uploading more files.",
                "code": "UPLOAD_RATE_LIMIT_EXCEEDED",
            },
        )
        user = optional_jwt_user(hub, request)
        limit = hub.production.max_upload_bytes
        if request.content_type.startswith("multipart/"):
            fields, file = await _read_upload(request, limit)
        else:
            body = await read_body(request)
            fields, file = {k: v for k, v in body.items() if isinstance(v, str)}, None
        if user is None and not fields.get("conversationId"):
            raise fail(
                401,
                {
                    "success": False,
                    "error": "Authentication or valid conversation required for file upload",
                    "code": "AUTH_REQUIRED",
                },
                headers,
            )
        if file is None:
            raise fail(400, {"success": False, "error": "No file uploaded"}, headers)
        filename, mimetype, data = file
        stored = f"{uuid.uuid4()}-{_UNSAFE.sub('_', filename)}"
        async with hub.transaction():
            hub.store.uploads.add(stored, filename, mimetype, data)
        metadata = {
            "filename": filename,
            "storedFilename": stored,
            "mimetype": mimetype,
            "size": len(data),
            "url": f"/api/uploads/{stored}",
        }
        return json_response({"success": True, "file": metadata}, headers=headers)

    @routes.get("/api/uploads/{filename}")
    async def download(request: web.Request) -> web.Response:
        user = optional_jwt_user(hub, request)
        filename = request.match_info["filename"]
        if filename in (".", "..") or "/" in filename or "\\" in filename:
            raise fail(403, {"success": False, "error": "Access denied"})
        stored = await hub.store.uploads.get(filename)
        if stored is None:
            raise fail(404, {"success": False, "error": "File not found"})
        owner = await hub.store.uploads.conversation_of(f"/api/uploads/{filename}")
        if owner is not None and (user is None or user.role not in ("agent", "admin")):
            conversation_id = request.query.get("conversationId")
            if not conversation_id:
                raise fail(
                    403,
                    {
                        "success": False,
                        "error": "Access denied - authentication or valid conversation required",
                        "code": "ACCESS_DENIED",
                    },
                )
            if conversation_id != owner:
                raise fail(
                    403,
                    {
                        "success": False,
                        "error": "Access denied - invalid conversation",
                        "code": "INVALID_CONVERSATION",
                    },
                )
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)
