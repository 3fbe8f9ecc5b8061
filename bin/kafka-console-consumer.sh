#!/usr/bin/env bash
# Apache Kafka 3.9.1's bin/kafka-console-consumer.sh for openmsk: same main class, arguments passed through unchanged.
if [ -z "${KAFKA_HEAP_OPTS:-}" ]; then
  export KAFKA_HEAP_OPTS="-Xmx512M"
fi
exec "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/kafka-run-class.sh" org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
