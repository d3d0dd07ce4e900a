"""Who may call what: one table naming every RPC of every service we serve.

The identity interceptor (recorder_common.identity) enforces it before any handler runs, and the
Envoy gateway (gateway/render.py) routes exactly the PUBLIC entries. An RPC missing from the table
is refused, so a new RPC stays closed until someone decides who may call it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Access(enum.Enum):
    # An end user: a user token, or one of our services acting for a user (x-on-behalf-of).
    PUBLIC = "public"
    # One of our services (a service token), for a user or for nobody.
    INTERNAL = "internal"
    # Anybody, no token: load balancers and grpcurl use these before any login.
    OPEN = "open"


PUBLIC, INTERNAL, OPEN = Access.PUBLIC, Access.INTERNAL, Access.OPEN

_INGEST = "/recorder.v1.IngestService/"
_CATALOG = "/recorder.v1.CatalogService/"
_MEDIA = "/recorder.v1.MediaService/"

POLICY: Mapping[str, Access] = {
    _INGEST + "CreateUpload": PUBLIC,
    _INGEST + "PutChunk": PUBLIC,
    _INGEST + "GetUploadState": PUBLIC,
    _INGEST + "Upload": PUBLIC,
    _INGEST + "AbortUpload": PUBLIC,
    _INGEST + "DeleteVideo": PUBLIC,
    _INGEST + "RetryProcessing": PUBLIC,
    _CATALOG + "GetVideo": PUBLIC,
    _CATALOG + "ListVideos": PUBLIC,
    _CATALOG + "WatchVideo": PUBLIC,
    _CATALOG + "CreateShareLink": PUBLIC,
    _CATALOG + "ListShareLinks": PUBLIC,
    _CATALOG + "RevokeShareLink": PUBLIC,
    # Called by media's playback server (for nobody: the link is the viewer's credential).
    _CATALOG + "ResolveShareLink": INTERNAL,
    # Called by ingest.
    _CATALOG + "CreateVideo": INTERNAL,
    _CATALOG + "RecordChunks": INTERNAL,
    # Ingest asks on the user's behalf; users ask ingest (IngestService/GetUploadState).
    _CATALOG + "GetUploadState": INTERNAL,
    _CATALOG + "MarkDeleted": INTERNAL,
    _CATALOG + "PurgeVideo": INTERNAL,
    _CATALOG + "ExpireStaleUploads": INTERNAL,
    _CATALOG + "ListDeletedVideos": INTERNAL,
    _CATALOG + "ListReadyWithChunks": INTERNAL,
    _CATALOG + "ForgetChunks": INTERNAL,
    _CATALOG + "RetryProcessing": INTERNAL,
    # Called by media.
    _CATALOG + "ClaimProcessing": INTERNAL,
    _CATALOG + "ReportProgress": INTERNAL,
    _CATALOG + "PutAsset": INTERNAL,
    _CATALOG + "SetMediaInfo": INTERNAL,
    _CATALOG + "FinishProcessing": INTERNAL,
    _CATALOG + "ListPendingProcessing": INTERNAL,
    _CATALOG + "ListChunks": INTERNAL,
    _CATALOG + "ClaimRendition": INTERNAL,
    _CATALOG + "ReportRenditionProgress": INTERNAL,
    _CATALOG + "FinishRendition": INTERNAL,
    # Called by the ingest janitor.
    _CATALOG + "FailExhaustedJobs": INTERNAL,
    # The event feed and webhook deliveries, for our backend services.
    _CATALOG + "WatchEvents": INTERNAL,
    _CATALOG + "ListWebhookDeliveries": INTERNAL,
    # Called by ingest.
    _MEDIA + "ProcessVideo": INTERNAL,
    _MEDIA + "ChunkStored": INTERNAL,
    _MEDIA + "ExtractAudio": PUBLIC,
    _MEDIA + "MakeThumbnail": PUBLIC,
    _MEDIA + "MakePreview": PUBLIC,
    _MEDIA + "Download": PUBLIC,
    _MEDIA + "GetPlaybackUrl": PUBLIC,
    "/grpc.health.v1.Health/Check": OPEN,
    "/grpc.health.v1.Health/Watch": OPEN,
    "/grpc.health.v1.Health/List": OPEN,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": OPEN,
}


def access_of(method: str, policy: Mapping[str, Access] = POLICY) -> Access | None:
    """The access an RPC (full method name, "/package.Service/Method") is declared with, or None."""
    return policy.get(method)


def methods_with(access: Access, policy: Mapping[str, Access] = POLICY) -> list[str]:
    """The RPCs declared with one kind of access, in table order."""
    return [method for method, declared in policy.items() if declared is access]
