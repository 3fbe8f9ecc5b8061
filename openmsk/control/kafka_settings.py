"""What the services may check requests against without knowing the runtime: the Kafka versions the
control plane can run and the server properties it manages itself (the knowledge stays in runtime/;
services import it from here because services never import runtime)."""
from __future__ import annotations

from ..runtime.kafka_config import is_managed_key, parse_properties
from ..runtime.versions import SUPPORTED_VERSIONS

__all__ = ["SUPPORTED_VERSIONS", "is_managed_key", "parse_properties"]
