"""Media files on the local filesystem, every one in the same layout `<root>/<YYYY-MM-DD>/<key><ext>`
(the key a ULID, the day its time), so retention and the orphan sweep see them all: clips and
snapshots the edges upload (resumable, into `.partial/`, verified by SHA-256), and the pictures the
gateway receives itself (inline alert snapshots, resolution photos: `write`)."""
from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from ulid import ULID

from alerts.media import file_sha256

KEY_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")  # a ULID, nothing that could walk out of the root
OWN_FILE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}/[0-9A-HJKMNP-TV-Z]{26}\.[a-z0-9]+$")  # the layout this module writes
# disk full, quota exceeded, or the file size limit of the process (RLIMIT_FSIZE)
STORAGE_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
EXTENSIONS = {"video/mp4": ".mp4", "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


class StorageError(Exception):
    """An upload that cannot proceed; `status` is the HTTP answer, `received` the bytes kept."""

    def __init__(self, status: int, code: str, message: str, received: int = 0):
        super().__init__(message)
        self.status, self.code, self.message, self.received = status, code, message, received


def check_key(key: str) -> str:
    if not KEY_RE.match(key):
        raise StorageError(400, "bad_media_id", f"media id {key!r} is not a ULID (26 characters, Crockford base32)")
    return key


def relpath_for(key: str, content_type: str) -> str:
    ext = EXTENSIONS.get(content_type)
    if ext is None:
        raise StorageError(415, "unsupported_type", f"content type {content_type!r} is not one of {sorted(EXTENSIONS)}")
    day = ULID.from_str(check_key(key)).datetime.astimezone(UTC).strftime("%Y-%m-%d")
    return f"{day}/{key}{ext}"


def candidate_relpaths(key: str) -> list[str]:
    return [relpath_for(key, t) for t in EXTENSIONS]


class MediaStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.partial_dir = self.root / ".partial"  # made on first use: a store costs nothing until then
        self.derived_dir = self.root / ".derived"  # blurred copies; they go with their original

    def path(self, relpath: str) -> Path:
        p = (self.root / relpath).resolve()
        if self.root.resolve() not in p.parents:
            raise StorageError(400, "bad_path", f"{relpath!r} is outside the media directory")
        return p

    def partial(self, key: str) -> Path:
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        return self.partial_dir / check_key(key)

    def received(self, key: str) -> int:
        p = self.partial(key)
        return p.stat().st_size if p.exists() else 0

    async def append(self, key: str, offset: int, chunks: AsyncIterator[bytes]) -> int:
        """Write the body at `offset` (which must be what was received so far); returns the new size.
        Bytes that arrived before a dropped connection stay, so the edge resumes where it broke off."""
        have = self.received(key)
        if offset != have:
            raise StorageError(409, "offset_mismatch", f"upload of {key} is at byte {have}, not {offset}", have)
        p = self.partial(key)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)  # unbuffered: no bytes linger after an error
        try:
            async for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        except OSError as e:
            os.ftruncate(fd, have)  # keep only what was acknowledged before; the edge resends the rest
            if e.errno in STORAGE_FULL:
                raise StorageError(507, "storage_full", f"no space for media under {self.root}: {e.strerror}",
                                   have) from None
            raise
        finally:
            os.close(fd)
        return p.stat().st_size

    def finish(self, key: str, relpath: str, expected_sha256: str) -> tuple[str, int]:
        """Check the complete upload against its hash and move it into place."""
        part = self.partial(key)
        sha, size = file_sha256(part)
        if sha != expected_sha256.lower():
            part.unlink(missing_ok=True)
            raise StorageError(422, "hash_mismatch",
                               f"upload of {key} has SHA-256 {sha}, the edge announced {expected_sha256}; discarded")
        dest = self.path(relpath)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "rb+") as f:
            os.fsync(f.fileno())  # the row we are about to write must never point at a half-written file
        os.replace(part, dest)
        return sha, size

    def write(self, data: bytes, content_type: str, created: datetime) -> tuple[str, str, str]:
        """Store bytes the gateway received itself under a new key of time `created`; returns
        (key, relative path, SHA-256). Written to `.partial/` first, so no reader sees half a file."""
        key = str(ULID.from_datetime(created))
        relpath = relpath_for(key, content_type)
        part = self.partial(key)
        try:
            part.write_bytes(data)
            dest = self.path(relpath)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, dest)
        except OSError as e:
            part.unlink(missing_ok=True)
            if e.errno in STORAGE_FULL:
                raise StorageError(507, "storage_full", f"no space for media under {self.root}: {e.strerror}") from None
            raise
        return key, relpath, hashlib.sha256(data).hexdigest()

    def file(self, row_path: str) -> Path:
        """The file of a `media` row (its path relative to the root; older rows hold absolute ones)."""
        return self.path(self.relative(row_path))

    def discard(self, key: str) -> None:
        self.partial(key).unlink(missing_ok=True)

    def derived(self, key: str, variant: str, suffix: str) -> Path:
        return self.derived_dir / f"{check_key(key)}-{variant}{suffix}"

    def delete(self, relpath: str) -> bool:
        """Remove a file and every copy derived from it."""
        p = self.path(relpath)
        if KEY_RE.match(p.stem) and self.derived_dir.exists():
            for d in self.derived_dir.glob(f"{p.stem}-*"):
                d.unlink(missing_ok=True)
        try:
            p.unlink()
            return True
        except FileNotFoundError:
            return False

    def relative(self, path: str) -> str:
        """A row's path relative to the root (rows written elsewhere may hold absolute paths)."""
        p = Path(path)
        if p.is_absolute():
            try:
                return p.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                return path
        return p.as_posix()

    def own_files(self) -> dict[str, float]:
        """Files in this module's layout (relative path -> modification time); others' files and
        partial uploads are never touched."""
        out: dict[str, float] = {}
        for p in self.root.glob("*/*"):
            rel = p.relative_to(self.root).as_posix()
            if OWN_FILE_RE.match(rel) and p.is_file():
                out[rel] = p.stat().st_mtime
        return out

