"""The channel brokers use to ask the control plane about IAM (SASL verification, kafka-cluster:*
decisions): one random token per installation (`<data>/iam/broker-channel.token`, 0600, written
atomically), handed to each broker as a 0600 file (`BROKER_TOKEN_FILE` in its work dir). It is not an
AWS key; it only lets a broker ask. The service's route (services/iam/broker_auth.py) compares it in
constant time."""
from __future__ import annotations

import secrets
from pathlib import Path

from ..util import write_secret

BROKER_TOKEN_FILE = "iam/channel.token"


def channel_token(data_dir: Path) -> str:
    path = Path(data_dir) / "iam" / "broker-channel.token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_secret(path, secrets.token_urlsafe(32).encode())
    return path.read_text().strip()
