# One image for the three services; docker-compose picks the module to run.
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg util-linux \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gen gen
COPY recorder_common recorder_common
COPY catalog_service catalog_service
COPY ingest_service ingest_service
COPY media_service media_service
COPY recorder_cli recorder_cli
COPY devstack devstack
COPY devauth devauth
COPY gateway gateway
RUN pip install --no-cache-dir .
USER nobody
