"""Share links: public watch links to one video, owned by its owner.

A link's id is its only credential: secrets.token_urlsafe(16) (128 random bits), never derived
from the video or the owner, so holding one tells nothing about the owner's other videos. Only the
owner lists or revokes links (another user's link is NOT_FOUND, word for word like a missing one).
The media service's playback server asks ResolveShareLink for a link's state and checks it on the
page and on every file it serves for the link. It caches that answer only while it follows the
event feed, which tells it of each revocation (share_link.revoked, written in the revoke's
transaction) and of each change to the video; RevokeShareLink returns once every media replica
following this catalog process has been sent the event (see servicer.RevokeShareLink).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets

from sqlalchemy import select, update

from catalog_service import events
from catalog_service.convert import timestamp
from catalog_service.models import ShareLink, Video, as_utc
from recorder.v1 import catalog_pb2
from catalog_service.statuses import DELETED, EXPIRED, FAILED
from recorder_common.errors import FailedPrecondition, InvalidArgument, NotFound
from recorder_common.ids import check_video_id

MAX_EXPIRY_SECONDS = 365 * 24 * 3600
MAX_LINKS_LISTED = 1000
# How long RevokeShareLink waits for the playback servers following the feed to be sent it.
REVOKE_PROPAGATION_SECONDS = 2.0
_LINK_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def new_link_id() -> str:
    return secrets.token_urlsafe(16)  # 22 characters of base64url


def is_link_id(link_id: str) -> bool:
    return isinstance(link_id, str) and _LINK_ID.fullmatch(link_id) is not None


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A link as the playback server needs it; video None when the link is gone."""

    active: bool
    link: ShareLink | None
    video: Video | None


class ShareLinks:
    def __init__(self, catalog) -> None:  # catalog_service.catalog.Catalog
        self.catalog = catalog

    def _now(self) -> dt.datetime:
        return self.catalog.clock()

    async def create(self, owner_id: str, video_id: str, expires_in_seconds: int, allow_download: bool) -> ShareLink:
        if expires_in_seconds < 0 or expires_in_seconds > MAX_EXPIRY_SECONDS:
            raise InvalidArgument(f"expires_in_seconds must be 0 (never) to {MAX_EXPIRY_SECONDS} (365 days)")
        check_video_id(video_id)
        async with self.catalog._transaction() as session:
            video = (
                await session.execute(select(Video).where(Video.id == video_id, Video.owner_id == owner_id))
            ).scalar_one_or_none()
            if video is None or video.status == DELETED:
                raise NotFound(f"video {video_id} not found")
            if video.status in (FAILED, EXPIRED):
                raise FailedPrecondition(f"the video is {video.status}: there is nothing to watch")
            now = self._now()
            link = ShareLink(
                id=new_link_id(),
                video_id=video_id,
                owner_id=owner_id,
                allow_download=allow_download,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=expires_in_seconds) if expires_in_seconds else None,
            )
            session.add(link)
        return link

    async def list(self, owner_id: str, video_id: str) -> list[ShareLink]:
        query = select(ShareLink).where(ShareLink.owner_id == owner_id)
        if video_id:
            query = query.where(ShareLink.video_id == check_video_id(video_id))
        async with self.catalog.sessions() as session:
            rows = (
                (
                    await session.execute(
                        query.order_by(ShareLink.created_at.desc(), ShareLink.id).limit(MAX_LINKS_LISTED)
                    )
                )
                .scalars()
                .all()
            )
        return list(rows)

    async def revoke(self, owner_id: str, link_id: str) -> tuple[ShareLink, int | None]:
        """Idempotent: revoking a revoked link keeps its first revocation time. Returns the link
        and the cursor of its share_link.revoked event (None: it was revoked before)."""
        if not is_link_id(link_id):
            raise NotFound("share link not found")
        async with self.catalog._transaction() as session:
            now = self._now()
            changed = await session.execute(
                update(ShareLink)
                .where(ShareLink.id == link_id, ShareLink.owner_id == owner_id, ShareLink.revoked_at.is_(None))
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )
            link = (
                await session.execute(
                    select(ShareLink)
                    .where(ShareLink.id == link_id, ShareLink.owner_id == owner_id)
                    .execution_options(populate_existing=True)
                )
            ).scalar_one_or_none()
            if link is None:
                raise NotFound("share link not found")
            revoked_now = changed.rowcount == 1
            if revoked_now:
                # In the revoke's own transaction: every media replica hears it (link_feed.py).
                events.emit_link_revoked(session, link, now)
        return link, events.last_written(session) if revoked_now else None

    async def resolve(self, link_id: str) -> Resolved:
        """For the playback server. Gone (revoked, expired, video deleted or never watchable) and
        unknown look the same to the public: 410 there, and nothing else is said."""
        if not is_link_id(link_id):
            return Resolved(False, None, None)
        async with self.catalog.sessions() as session:
            link = (await session.execute(select(ShareLink).where(ShareLink.id == link_id))).scalar_one_or_none()
            if link is None:
                return Resolved(False, None, None)
        try:
            video = await self.catalog.get_video(link.owner_id, link.video_id)
        except NotFound:
            return Resolved(False, link, None)
        expires = None if link.expires_at is None else as_utc(link.expires_at)
        active = (
            link.revoked_at is None
            and (expires is None or expires > self._now())
            and video.status not in (DELETED, FAILED, EXPIRED)
        )
        return Resolved(active, link, video if active else None)


def share_link_message(link: ShareLink) -> catalog_pb2.ShareLink:
    message = catalog_pb2.ShareLink(
        link_id=link.id,
        video_id=link.video_id,
        created_at=timestamp(link.created_at),
        allow_download=link.allow_download,
        path=f"/s/{link.id}",
    )
    if link.expires_at is not None:
        message.expires_at.CopyFrom(timestamp(link.expires_at))
    if link.revoked_at is not None:
        message.revoked_at.CopyFrom(timestamp(link.revoked_at))
    return message
