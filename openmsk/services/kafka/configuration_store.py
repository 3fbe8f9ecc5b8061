"""The MSK service's own documents: configurations (named, versioned server.properties). They are not
cluster state, so the control plane does not hold them; this small store does (the installation's one
SQLite Store, handed in by app.py)."""
from __future__ import annotations

from ...control.store import Store

KIND = "configuration"


class ConfigurationStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, arn: str) -> dict | None:
        return self._store.get(KIND, arn)

    def list(self, region: str) -> list[dict]:
        return self._store.list(KIND, region=region)

    def put(self, conf: dict) -> None:
        self._store.put(KIND, conf["Arn"], conf, region=conf["Region"])

    def delete(self, arn: str) -> None:
        self._store.delete(KIND, arn)
