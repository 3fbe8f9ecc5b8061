#!/usr/bin/env bash
# Apache Kafka 3.9.1's bin/kafka-metadata-quorum.sh for openmsk: same main class, arguments passed through unchanged.
exec "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/kafka-run-class.sh" org.apache.kafka.tools.MetadataQuorumCommand "$@"
