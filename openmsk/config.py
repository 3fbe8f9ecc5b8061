"""Where openmsk keeps its state and how to reach it: data directory, endpoint, credentials."""
from __future__ import annotations

import ipaddress
import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9700
DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


def default_data_dir() -> Path:
    if os.environ.get("OPENMSK_DATA_DIR"):
        return Path(os.environ["OPENMSK_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "openmsk"


def require_loopback(host: str) -> None:
    """openmsk only ever listens on loopback (127.0.0.0/8 or ::1)."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        if host == "localhost":
            return
    raise SystemExit(f"openmsk: refusing to listen on {host}: only loopback addresses (127.0.0.0/8, ::1) are allowed")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


def credentials(data_dir: Path, *, create: bool = True) -> Credentials:
    """The installation's access key pair, generated on first start (file mode 0600)."""
    path = Path(data_dir) / "credentials.json"
    if path.exists():
        doc = json.loads(path.read_text())
        return Credentials(doc["access_key_id"], doc["secret_access_key"])
    if not create:
        raise FileNotFoundError(f"{path} does not exist; start the service once with `openmsk serve`")
    alphabet = string.ascii_uppercase + string.digits
    creds = Credentials("AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)),
                        "".join(secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"access_key_id": creds.access_key_id, "secret_access_key": creds.secret_access_key}, fh)
    return creds


def write_endpoint(data_dir: Path, host: str, port: int) -> None:
    (Path(data_dir) / "endpoint.json").write_text(json.dumps({"host": host, "port": port}))


def read_endpoint(data_dir: Path) -> tuple[str, int]:
    path = Path(data_dir) / "endpoint.json"
    if path.exists():
        doc = json.loads(path.read_text())
        return doc["host"], doc["port"]
    return DEFAULT_HOST, DEFAULT_PORT
