"""What the services may check requests against without knowing the runtime: the Kafka versions the
control plane can run, MSK's upgrade paths between them, and the server properties it manages itself
(the knowledge stays in runtime/; services import it from here because services never import runtime)."""
from __future__ import annotations

from ..runtime.kafka_config import is_managed_key, parse_properties
from ..runtime.versions import (BY_VERSION, DEFAULT_VERSION, SUPPORTED_VERSIONS, is_kraft, sorted_versions,
                                upgrade_targets)

__all__ = ["BY_VERSION", "DEFAULT_VERSION", "SUPPORTED_VERSIONS", "is_kraft", "is_managed_key", "parse_properties",
           "sorted_versions", "upgrade_targets"]
