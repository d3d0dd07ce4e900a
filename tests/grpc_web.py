"""A minimal gRPC-Web client over HTTP/1.1 (what a browser sends), for gateway tests."""

from __future__ import annotations

import dataclasses
import http.client


@dataclasses.dataclass
class GrpcWebReply:
    http_status: int
    headers: dict[str, str]
    messages: list[bytes]
    trailers: dict[str, str]

    @property
    def grpc_status(self) -> int | None:
        value = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return int(value) if value is not None else None

    @property
    def grpc_message(self) -> str:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


def frame(payload: bytes) -> bytes:
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def call(
    port: int,
    path: str,
    payload: bytes,
    metadata: dict[str, str] | None = None,
    origin: str | None = None,
    timeout: float = 120.0,
) -> GrpcWebReply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", **(metadata or {})}
    if origin:
        headers["origin"] = origin
    conn.request("POST", path, frame(payload), headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    messages, trailers, offset = [], {}, 0
    while offset + 5 <= len(body):
        flag, length = body[offset], int.from_bytes(body[offset + 1 : offset + 5], "big")
        chunk = body[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if flag & 0x80:
            for line in chunk.decode().split("\r\n"):
                if ":" in line:
                    key, value = line.split(":", 1)
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(chunk)
    return GrpcWebReply(response.status, {k.lower(): v for k, v in response.getheaders()}, messages, trailers)


def preflight(port: int, path: str, origin: str) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        "OPTIONS",
        path,
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-grpc-web,x-user-agent,authorization",
        },
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}
