#!/usr/bin/env bash
# Apache Kafka 3.9.1's bin/kafka-storage.sh for openmsk: same main class, arguments passed through unchanged.
exec "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
