"""Per-owner figures and the per-owner lock, shared by the catalog and the chunk group commit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.models import Asset, OwnerLock, Video
from catalog_service.statuses import DELETED, EXPIRED

# Videos whose bytes are gone or going (expired uploads are removed; tombstones are purged).
_NOT_STORED = (DELETED, EXPIRED)
# The assembled source is the upload's bytes in one file: they are charged once, as received
# bytes, when the chunks arrive (the chunk files go once the source exists).
_CHARGED_AS_UPLOAD = ("SOURCE",)


async def bytes_in_use(session: AsyncSession, owners: list[str]) -> dict[str, int]:
    """Each owner's stored bytes: upload bytes plus every output, one figure for every quota."""
    used = dict.fromkeys(owners, 0)
    if not owners:
        return used
    for owner, total in await session.execute(
        select(Video.owner_id, func.coalesce(func.sum(Video.received_bytes), 0))
        .where(Video.owner_id.in_(owners), Video.status.not_in(_NOT_STORED))
        .group_by(Video.owner_id)
    ):
        used[owner] += int(total)
    for owner, total in await session.execute(
        select(Video.owner_id, func.coalesce(func.sum(Asset.size), 0))
        .join(Asset, Asset.video_id == Video.id)
        .where(Video.owner_id.in_(owners), Video.status.not_in(_NOT_STORED), Asset.kind.not_in(_CHARGED_AS_UPLOAD))
        .group_by(Video.owner_id)
    ):
        used[owner] += int(total)
    return used


def charged_size(kind: str, size: int) -> int:
    """What an asset of this kind adds to its owner's usage."""
    return 0 if kind in _CHARGED_AS_UPLOAD else size


async def lock_owner(session: AsyncSession, owner_id: str, now: dt.datetime) -> None:
    await lock_owners(session, [owner_id], now)


async def lock_owners(session: AsyncSession, owners: list[str], now: dt.datetime) -> None:
    """Hold the owners' lock rows until the transaction ends, taken in id order (so transactions
    locking several cannot deadlock) and after any video row lock. An upsert creates a row on
    first use and, on PostgreSQL, locks it (ON CONFLICT DO UPDATE); on SQLite any write takes the
    database's write lock. Both databases have ON CONFLICT; only the construct differs."""
    if not owners:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(OwnerLock).values([{"owner_id": o, "locked_at": now} for o in sorted(set(owners))])
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[OwnerLock.owner_id], set_={"locked_at": statement.excluded.locked_at}
        )
    )
