"""A video's statuses by their short names: aliases of recorder_common.vocab.VideoStatus."""

from recorder_common.vocab import VideoStatus

UPLOADING, UPLOADED, PROCESSING, READY, FAILED, EXPIRED, DELETED = (
    VideoStatus.UPLOADING,
    VideoStatus.UPLOADED,
    VideoStatus.PROCESSING,
    VideoStatus.READY,
    VideoStatus.FAILED,
    VideoStatus.EXPIRED,
    VideoStatus.DELETED,
)
