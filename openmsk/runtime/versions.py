"""MSK Kafka version strings, the Apache releases openmsk runs for them, and MSK's upgrade rules.

This table is the pin: every Apache Kafka (and, for ZooKeeper-mode lines, ZooKeeper) release is fixed
here and fetched from Maven Central by `distribution.install()` with the pom named in the row (pom.xml
for the 3.x lines, pom-kafka4.xml for 4.x, which logs through log4j2 as Kafka 4's own distribution
does). MSK's "3.9.x" means "the line's latest patch MSK ships"; openmsk runs the release named here
(docs/versions.md has the table and why each was chosen).

Rules (MSK developer guide, "Supported Apache Kafka versions" and "KRaft mode"):
- `.kraft` versions are KRaft clusters; the others ZooKeeper clusters. KRaft exists from 3.7.x on;
  Kafka 4.x has no ZooKeeper mode at all.
- The metadata mode of a cluster never changes: UpdateClusterKafkaVersion moves a ZooKeeper cluster to
  a newer ZooKeeper version and a KRaft cluster to a newer KRaft version; there are no downgrades.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from .distribution import REPO_ROOT, KafkaDistribution


@dataclass(frozen=True)
class KafkaLine:
    msk_version: str            # MSK's version string, e.g. "3.9.x.kraft"
    kafka: str                  # Apache Kafka release (Maven version of org.apache.kafka:kafka_2.13)
    zookeeper: str | None       # ZooKeeper release for ZooKeeper-mode lines (as that Kafka release's pom)
    pom: str                    # the pom (repository root) that lists the jar set
    # MSK's published end of support ("Supported Apache Kafka versions"): after it, MSK's
    # KafkaVersionStatus for the version is DEPRECATED (clusters still run; MSK phases out creation).
    end_of_support: str | None = None

    @property
    def status(self) -> str:
        """MSK's KafkaVersionStatus today (UTC)."""
        return status_on(self, datetime.now(timezone.utc).date())

    @property
    def kraft(self) -> bool:
        return self.msk_version.endswith(".kraft")

    @property
    def major_minor(self) -> tuple[int, int]:
        major, minor = self.kafka.split(".")[:2]
        return int(major), int(minor)

    @property
    def release(self) -> str:
        """Kafka's release version ("3.9"), what inter.broker.protocol.version / metadata.version take."""
        return "%d.%d" % self.major_minor

    @property
    def jar_set(self) -> str:
        """Name of the cached jar set (`lib/<jar_set>`); ZooKeeper and KRaft lines of one release share it."""
        return f"kafka-{self.kafka}"


_POM3, _POM4 = "pom.xml", "pom-kafka4.xml"

LINES: list[KafkaLine] = [
    KafkaLine("3.6.0", "3.6.2", "3.8.4", _POM3, end_of_support="2026-06-01"),
    KafkaLine("3.7.x", "3.7.2", "3.8.4", _POM3, end_of_support="2026-09-01"),
    KafkaLine("3.7.x.kraft", "3.7.2", None, _POM3, end_of_support="2026-09-01"),
    KafkaLine("3.8.x", "3.8.1", "3.8.4", _POM3),
    KafkaLine("3.8.x.kraft", "3.8.1", None, _POM3),
    KafkaLine("3.9.x", "3.9.1", "3.8.4", _POM3),
    KafkaLine("3.9.x.kraft", "3.9.1", None, _POM3),
    KafkaLine("4.0.x.kraft", "4.0.2", None, _POM4),
    KafkaLine("4.1.x.kraft", "4.1.2", None, _POM4),
]
BY_VERSION: dict[str, KafkaLine] = {line.msk_version: line for line in LINES}
DEFAULT_VERSION = "3.9.x"

# MSK version string -> Apache Kafka release (kept for callers that only need the mapping)
SUPPORTED_VERSIONS: dict[str, str] = {line.msk_version: line.kafka for line in LINES}


def status_on(found: KafkaLine, day: date) -> str:
    if found.end_of_support and day >= date.fromisoformat(found.end_of_support):
        return "DEPRECATED"
    return "ACTIVE"


def line(msk_version: str) -> KafkaLine:
    try:
        return BY_VERSION[msk_version]
    except KeyError:
        raise KeyError(f"unsupported Kafka version {msk_version!r}") from None


def is_kraft(msk_version: str) -> bool:
    return msk_version.endswith(".kraft")


def jar_version(msk_version: str) -> str | None:
    found = BY_VERSION.get(msk_version)
    return found.kafka if found else None


def _order(msk_version: str) -> tuple[int, ...]:
    # "3.6.0" < "3.7.x" < "3.8.x": compare the numeric parts, "x" as the line's newest patch.
    parts = msk_version.removesuffix(".kraft").split(".")
    return tuple(9999 if p == "x" else int(p) for p in parts)


def upgrade_targets(msk_version: str) -> list[str]:
    """Versions a cluster on `msk_version` may be updated to: newer, same metadata mode."""
    if msk_version not in BY_VERSION:
        return []
    source = BY_VERSION[msk_version]
    return [l.msk_version for l in LINES
            if l.kraft == source.kraft and _order(l.msk_version) > _order(msk_version)]


def sorted_versions() -> list[str]:
    return [l.msk_version for l in LINES]


def locate(msk_version: str) -> KafkaDistribution:
    """The cached jar set of an MSK version (DistributionMissing if it was never fetched)."""
    return KafkaDistribution.locate(line(msk_version).kafka)


def install_line(msk_version: str, progress=None) -> KafkaDistribution:
    """Fetch an MSK version's pinned jar set from Maven Central into its own cache directory (idempotent)."""
    from .distribution import install
    found = line(msk_version)
    props = {"zookeeper.version": found.zookeeper} if found.zookeeper else {}
    return install(found.kafka, pom=REPO_ROOT / found.pom, properties=props, progress=progress)


def installed(msk_version: str) -> bool:
    from .distribution import DistributionMissing
    try:
        locate(msk_version)
        return True
    except DistributionMissing:
        return False
