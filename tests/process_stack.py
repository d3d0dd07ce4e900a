"""The services as real OS processes (python -m ...), for fault tests that kill -9 one of them:
devstack's harness with the test keys, a stack folder per test and the CLI's environment."""

from __future__ import annotations

import os
import pathlib

from devstack.harness import Processes, free_port, replica_names, wiring_env
from tests.helpers import TEST_KEYS, token

__all__ = ["ProcessStack", "free_port"]


class ProcessStack(Processes):
    """catalog, media and ingest as processes; replicas={"media": 2} adds "media-2" and so on
    (each on its own port; ingest is given every media replica's address)."""

    def __init__(
        self,
        database_url: str,
        root: pathlib.Path,
        extra_env: dict[str, str] | None = None,
        replicas: dict[str, int] | None = None,
    ) -> None:
        self.root = root
        self.storage_root = root / "storage"
        ports = {name: free_port() for name in replica_names(replicas or {})}
        env = {
            **os.environ,
            **TEST_KEYS.env(),
            **wiring_env(ports),
            "DATABASE_URL": database_url,
            "STORAGE_ROOT": str(self.storage_root),
            # Each media replica's playback server on a port of its own (0: any free one).
            "PLAYBACK_PORT": "0",
            "PLAYBACK_KEY_FILE": str(root / "playback.key"),
            **(extra_env or {}),
        }
        super().__init__(env, ports, root)

    def start(self, name: str) -> None:
        self.launch(name)

    def cli_env(self, user: str) -> dict[str, str]:
        return {
            **self.env,
            "RECORDER_INGEST": self.target("ingest"),
            "RECORDER_CATALOG": self.target("catalog"),
            "RECORDER_TOKEN": token(user),
        }
