"""log4j 1.x (reload4j) configuration for brokers and ZooKeeper nodes.

Mirrors Kafka's config/log4j.properties: server.log, state-change.log, controller.log under
${kafka.logs.dir}, pattern `[%d] %p %m (%c)%n`. The readiness/failure scanner in the control plane
reads server.log, so its pattern must stay as is.
"""
PATTERN = "[%d] %p %m (%c)%n"

BROKER_LOG4J = f"""\
log4j.rootLogger=INFO, kafkaAppender
log4j.appender.kafkaAppender=org.apache.log4j.RollingFileAppender
log4j.appender.kafkaAppender.File=${{kafka.logs.dir}}/server.log
log4j.appender.kafkaAppender.MaxFileSize=50MB
log4j.appender.kafkaAppender.MaxBackupIndex=4
log4j.appender.kafkaAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.kafkaAppender.layout.ConversionPattern={PATTERN}
log4j.appender.stateChangeAppender=org.apache.log4j.RollingFileAppender
log4j.appender.stateChangeAppender.File=${{kafka.logs.dir}}/state-change.log
log4j.appender.stateChangeAppender.MaxFileSize=20MB
log4j.appender.stateChangeAppender.MaxBackupIndex=2
log4j.appender.stateChangeAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.stateChangeAppender.layout.ConversionPattern={PATTERN}
log4j.appender.controllerAppender=org.apache.log4j.RollingFileAppender
log4j.appender.controllerAppender.File=${{kafka.logs.dir}}/controller.log
log4j.appender.controllerAppender.MaxFileSize=20MB
log4j.appender.controllerAppender.MaxBackupIndex=2
log4j.appender.controllerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.controllerAppender.layout.ConversionPattern={PATTERN}
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.org.apache.zookeeper=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.controller=INFO, controllerAppender
log4j.additivity.kafka.controller=false
log4j.logger.state.change.logger=INFO, stateChangeAppender
log4j.additivity.state.change.logger=false
"""

ZOOKEEPER_LOG4J = f"""\
log4j.rootLogger=INFO, zkAppender
log4j.appender.zkAppender=org.apache.log4j.RollingFileAppender
log4j.appender.zkAppender.File=${{kafka.logs.dir}}/zookeeper.log
log4j.appender.zkAppender.MaxFileSize=20MB
log4j.appender.zkAppender.MaxBackupIndex=2
log4j.appender.zkAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.zkAppender.layout.ConversionPattern={PATTERN}
"""

TOOLS_LOG4J = f"""\
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern={PATTERN}
log4j.appender.stderr.Target=System.err
"""


def _log4j2_rolling(name: str, file: str, size: str, keep: int) -> str:
    return f"""\
appender.{name}.type = RollingFile
appender.{name}.name = {name}
appender.{name}.fileName = ${{sys:kafka.logs.dir}}/{file}
appender.{name}.filePattern = ${{sys:kafka.logs.dir}}/{file}.%i
appender.{name}.layout.type = PatternLayout
appender.{name}.layout.pattern = {PATTERN}
appender.{name}.policies.type = Policies
appender.{name}.policies.size.type = SizeBasedTriggeringPolicy
appender.{name}.policies.size.size = {size}
appender.{name}.strategy.type = DefaultRolloverStrategy
appender.{name}.strategy.max = {keep}
"""


# Kafka 4.x logs through log4j2: the same files, pattern and levels as BROKER_LOG4J, in log4j2's
# properties syntax (read with -Dlog4j2.configurationFile).
BROKER_LOG4J2 = "status = warn\n" + _log4j2_rolling("server", "server.log", "50MB", 4) \
    + _log4j2_rolling("stateChange", "state-change.log", "20MB", 2) \
    + _log4j2_rolling("controller", "controller.log", "20MB", 2) + """\
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = kafka.controller
logger.controller.level = INFO
logger.controller.additivity = false
logger.controller.appenderRef.controller.ref = controller
logger.stateChange.name = state.change.logger
logger.stateChange.level = INFO
logger.stateChange.additivity = false
logger.stateChange.appenderRef.stateChange.ref = stateChange
"""

TOOLS_LOG4J2 = f"""\
status = warn
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = {PATTERN}
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = stderr
"""


def broker_log4j(log4j2: bool) -> tuple[str, str]:
    """(file name, content) of a Kafka node's logging configuration for its jar set."""
    return ("log4j2.properties", BROKER_LOG4J2) if log4j2 else ("log4j.properties", BROKER_LOG4J)
