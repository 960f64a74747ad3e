"""Media written before the one store layout: resolution photos and inline snapshots were kept as
`<media>/photos|snapshots/<ab>/<sha256><ext>` (one file per content, rows holding its absolute or
working-directory path). `adopt_legacy_files` moves each into the store's layout under a ULID key of
its time, so that listing, serving, the evidence export, retention and the orphan sweep treat it like
every other item. Run by `gateway serve` at start; idempotent."""
from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from ulid import ULID

from gateway.db import Database
from gateway.db.models import Media
from gateway.media.service import media_key
from gateway.media.storage import EXTENSIONS, KEY_RE, MediaStore, relpath_for

log = logging.getLogger("gridwatch.media")


def _legacy_file(store: MediaStore, path: str) -> Path | None:
    """Where a legacy row's file is: its path as written (absolute, or relative to the directory
    the gateway ran in), else the same path under the media root."""
    for p in (Path(path), store.root / path):
        if p.is_file():
            return p
    return None


def adopt_legacy_files(db: Database, store: MediaStore, now: datetime | None = None) -> int:
    """Copy every legacy file into the layout, point its row there and remove the old file once no
    row needs it; a row whose file is gone is marked deleted. Returns the number of rows adopted."""
    now = now or datetime.now(UTC)
    adopted = 0
    old_files: set[Path] = set()
    with db.session() as s:
        for row in s.scalars(select(Media).where(Media.deleted_at.is_(None))):
            if KEY_RE.match(media_key(row)):
                continue
            src = _legacy_file(store, row.path)
            if src is None:
                log.warning("media row %d: file %s is missing; marked deleted", row.id, row.path)
                row.deleted_at = now
                continue
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
            key = str(ULID.from_datetime(created))
            relpath = relpath_for(key, row.type if row.type in EXTENSIONS else "image/jpeg")
            dest = store.path(relpath)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)  # several rows may share one file (it was named by its content)
            row.path = relpath
            old_files.add(src)
            adopted += 1
    for p in old_files:
        p.unlink(missing_ok=True)
    if adopted:
        log.info("media: %d files of the old photos/snapshots layout moved into the store's layout", adopted)
    return adopted
