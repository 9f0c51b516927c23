"""Image uploads in the sandbox, shared by the three fakes: reading a multipart/form-data body
as the platforms do, checking the picture (size, PNG/JPEG/GIF/BMP magic), and the ids issued,
which the message and card APIs check: an image id the sandbox did not issue is refused there.

Each upload is kept (bytes, content type, SHA-256) under its id: `uploaded(state, platform)`
lists them for tests, and WeCom's `media/get` serves them back as the real one does.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from sandbox.server import ApiRequest
from sandbox.state import SandboxState, new_id

KIND = "image"                      # state objects: (f"{platform}:image", id) -> info
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
         (b"BM", "image/bmp"))


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def multipart(req: ApiRequest) -> dict[str, Part] | str:
    """The form's parts by field name, or what is wrong with the request (not multipart, no
    boundary, unreadable)."""
    ctype = req.header("content-type")
    if not ctype.lower().startswith("multipart/form-data"):
        return f"Content-Type must be multipart/form-data, not {ctype.split(';')[0] or 'empty'!r}"
    if "boundary=" not in ctype:
        return "multipart/form-data without a boundary"
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + req.body)
    if not msg.is_multipart():
        return "body is not a multipart form"
    parts: dict[str, Part] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        payload = part.get_payload(decode=True)
        parts[name] = Part(name, part.get_filename(), part.get_content_type(),
                           payload if isinstance(payload, bytes) else b"")
    return parts


def picture_type(data: bytes) -> str | None:
    """The image type its first bytes say, or None for anything else."""
    return next((ctype for magic, ctype in MAGIC if data.startswith(magic)), None)


def image_problem(part: Part | None, limit: int, allowed: tuple[str, ...] = ("image/png", "image/jpeg")) -> str | None:
    """What a platform would refuse about an uploaded picture, or None."""
    if part is None:
        return "no file in the form"
    if part.filename is None:
        return "the file part has no filename"
    if len(part.data) <= 5:
        return "file too small (at most 5 bytes)"
    if len(part.data) > limit:
        return f"file of {len(part.data)} bytes, over the {limit} byte limit"
    kind = picture_type(part.data)
    if kind not in allowed:
        return f"not a {'/'.join(a.split('/')[1].upper() for a in allowed)} image"
    return None


def issue(state: SandboxState, platform: str, part: Part, prefix: str) -> str:
    """A new id for an accepted upload, remembered with its bytes."""
    image_id = new_id(prefix, 16)
    kind = picture_type(part.data) or "application/octet-stream"
    state.put_object(f"{platform}:{KIND}", image_id, {
        "sha256": hashlib.sha256(part.data).hexdigest(), "size": len(part.data), "content_type": kind,
        "filename": part.filename, "at": state.now()})
    state.put_media(platform, image_id, part.data, kind)
    return image_id


def issued(state: SandboxState, platform: str, image_id: Any) -> bool:
    """Whether the sandbox handed out this image id (to this platform's app)."""
    return isinstance(image_id, str) and bool(image_id) and \
        state.get_object(f"{platform}:{KIND}", image_id) is not None


def uploaded(state: SandboxState, platform: str) -> dict[str, dict[str, Any]]:
    """Every image id issued on `platform` → its info (sha256, size, content_type, filename)."""
    return state.objects(f"{platform}:{KIND}")
