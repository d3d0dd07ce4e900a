"""A video's statuses, as stored in the database (the proto's VideoStatus names without prefix)."""
UPLOADING, UPLOADED, PROCESSING, READY, FAILED, EXPIRED, DELETED = (
    "UPLOADING", "UPLOADED", "PROCESSING", "READY", "FAILED", "EXPIRED", "DELETED")
