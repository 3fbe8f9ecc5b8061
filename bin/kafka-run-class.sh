#!/usr/bin/env bash
# openmsk's kafka-run-class.sh: runs a Kafka/ZooKeeper main class from the jar set that scripts/install
# fetched with Maven (never from a Kafka tarball, never from git). Same contract as Apache Kafka 3.9.1's
# bin/kafka-run-class.sh: arguments pass through unchanged, the JVM's exit code is the script's, and
# KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_GC_LOG_OPTS, KAFKA_JMX_OPTS, JMX_PORT,
# KAFKA_LOG4J_OPTS, KAFKA_OPTS, LOG_DIR, JAVA_HOME and CLASSPATH mean what they mean there.
# Tools log at WARN to stderr (tools-log4j.properties next to this script), like Apache's.
# The jar directory: $OPENMSK_KAFKA_LIBS, else $OPENMSK_CACHE (default ~/.cache/openmsk)/lib/kafka-<version
# pinned in pom.xml>.
set -u

if [ $# -lt 1 ]; then
  echo "USAGE: $0 [-daemon] [-name servicename] [-loggc] classname [opts]" >&2
  exit 1
fi

script="$(readlink -f "${BASH_SOURCE[0]}")"
bin_dir="$(dirname "$script")"
base_dir="$(dirname "$bin_dir")"

if [ -z "${OPENMSK_KAFKA_LIBS:-}" ]; then
  version="$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$base_dir/pom.xml" 2>/dev/null | head -n1)"
  cache="${OPENMSK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openmsk}"
  OPENMSK_KAFKA_LIBS="$cache/lib/kafka-${version:-3.9.1}"
fi
if ! ls "$OPENMSK_KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then
  echo "$(basename "$0"): Kafka jars not found in $OPENMSK_KAFKA_LIBS; run scripts/install (it fetches them with Maven)" >&2
  exit 1
fi
CLASSPATH="${CLASSPATH:+$CLASSPATH:}$OPENMSK_KAFKA_LIBS/*"

DAEMON_MODE=false; DAEMON_NAME=""; GC_LOG_ENABLED=false
while [ $# -gt 0 ]; do
  case "$1" in
    -name) DAEMON_NAME="$2"; shift 2 ;;
    -loggc) [ -z "${KAFKA_GC_LOG_OPTS:-}" ] && GC_LOG_ENABLED=true; shift ;;
    -daemon) DAEMON_MODE=true; shift ;;
    *) break ;;
  esac
done

KAFKA_JMX_OPTS="${KAFKA_JMX_OPTS:--Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false}"
if [ -n "${JMX_PORT:-}" ]; then
  KAFKA_JMX_OPTS="$KAFKA_JMX_OPTS -Dcom.sun.management.jmxremote.port=$JMX_PORT -Dcom.sun.management.jmxremote.rmi.port=$JMX_PORT"
fi

LOG_DIR="${LOG_DIR:-${OPENMSK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openmsk}/logs}"
KAFKA_LOG4J_OPTS="${KAFKA_LOG4J_OPTS:--Dlog4j.configuration=file:$bin_dir/tools-log4j.properties}"
KAFKA_LOG4J_CMD_OPTS="-Dkafka.logs.dir=$LOG_DIR $KAFKA_LOG4J_OPTS"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx256M}"
KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}"
if [ "$GC_LOG_ENABLED" = true ]; then
  mkdir -p "$LOG_DIR"
  KAFKA_GC_LOG_OPTS="-Xlog:gc*:file=$LOG_DIR/${DAEMON_NAME}-gc.log:time,tags:filecount=10,filesize=100M"
fi

if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then JAVA="$JAVA_HOME/bin/java"; else JAVA="java"; fi

# Word splitting of the *_OPTS variables is intended (Apache's script does the same).
# shellcheck disable=SC2086
if [ "$DAEMON_MODE" = true ]; then
  mkdir -p "$LOG_DIR"
  nohup "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS ${KAFKA_GC_LOG_OPTS:-} $KAFKA_JMX_OPTS $KAFKA_LOG4J_CMD_OPTS \
    -cp "$CLASSPATH" ${KAFKA_OPTS:-} "$@" > "$LOG_DIR/${DAEMON_NAME:-kafka}.out" 2>&1 < /dev/null &
else
  exec "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS ${KAFKA_GC_LOG_OPTS:-} $KAFKA_JMX_OPTS $KAFKA_LOG4J_CMD_OPTS \
    -cp "$CLASSPATH" ${KAFKA_OPTS:-} "$@"
fi
