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
