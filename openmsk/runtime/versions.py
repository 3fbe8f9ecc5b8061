"""MSK Kafka version strings openmsk can really run, and the jar set behind each.

Only versions whose jars the install step fetches are offered: ListKafkaVersions must never advertise
a version a cluster could not start with. MSK's "3.9.x" means "latest 3.9 patch", as here.
"""
from __future__ import annotations

from .distribution import pinned_kafka_version

# MSK version string -> Maven version of org.apache.kafka:kafka_2.13 (see pom.xml)
SUPPORTED_VERSIONS: dict[str, str] = {
    "3.9.x": pinned_kafka_version(),
}
DEFAULT_VERSION = "3.9.x"


def jar_version(msk_version: str) -> str | None:
    return SUPPORTED_VERSIONS.get(msk_version)
