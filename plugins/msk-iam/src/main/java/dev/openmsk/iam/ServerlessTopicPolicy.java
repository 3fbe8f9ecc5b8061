package dev.openmsk.iam;

import java.util.Map;
import java.util.Set;

import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.PolicyViolationException;
import org.apache.kafka.server.policy.AlterConfigPolicy;
import org.apache.kafka.server.policy.CreateTopicPolicy;

/**
 * MSK Serverless's topic rules, enforced where Kafka enforces topic rules: on the KRaft controllers
 * ({@code create.topic.policy.class.name}, {@code alter.config.policy.class.name}). A client breaking one gets
 * Kafka's POLICY_VIOLATION error with the reason.
 *
 * <p>Only the topic-level properties MSK Serverless lets users set may be set (cleanup.policy, compression.type,
 * max.message.bytes up to 8 MiB, message.timestamp.difference.max.ms, message.timestamp.type, retention.bytes,
 * retention.ms); a topic has at most 2400 partitions (the cluster's partition quota), a compacted one at most 120.
 * Kafka's internal topics (names starting with "__") are created by the brokers with their own settings and are
 * not checked. Broker resources are not checked here: openmsk's control plane is their only writer on a
 * serverless cluster (clients have no broker listener to reach them with another identity).
 */
public class ServerlessTopicPolicy implements CreateTopicPolicy, AlterConfigPolicy {
    static final Set<String> EDITABLE = Set.of("cleanup.policy", "compression.type", "max.message.bytes",
            "message.timestamp.difference.max.ms", "message.timestamp.type", "retention.bytes", "retention.ms");
    static final long MAX_MESSAGE_BYTES = 8388608L;
    static final int MAX_PARTITIONS = 2400;
    static final int MAX_COMPACTED_PARTITIONS = 120;

    @Override
    public void configure(Map<String, ?> configs) {
    }

    @Override
    public void validate(CreateTopicPolicy.RequestMetadata request) throws PolicyViolationException {
        if (request.topic().startsWith("__")) {
            return;
        }
        checkConfigs(request.topic(), request.configs());
        Integer partitions = request.numPartitions();
        if (partitions == null && request.replicasAssignments() != null) {
            partitions = request.replicasAssignments().size();
        }
        boolean compacted = String.valueOf(request.configs().get("cleanup.policy")).contains("compact");
        int max = compacted ? MAX_COMPACTED_PARTITIONS : MAX_PARTITIONS;
        if (partitions != null && partitions > max) {
            throw new PolicyViolationException("MSK Serverless allows at most " + max + " partitions for a "
                    + (compacted ? "compacted " : "") + "topic; " + request.topic() + " asks for " + partitions + ".");
        }
    }

    @Override
    public void validate(AlterConfigPolicy.RequestMetadata request) throws PolicyViolationException {
        if (request.resource().type() != ConfigResource.Type.TOPIC || request.resource().name().startsWith("__")) {
            return;
        }
        checkConfigs(request.resource().name(), request.configs());
    }

    private static void checkConfigs(String topic, Map<String, String> configs) {
        if (configs == null) {
            return;
        }
        for (Map.Entry<String, String> entry : configs.entrySet()) {
            if (!EDITABLE.contains(entry.getKey())) {
                throw new PolicyViolationException("The topic-level configuration property " + entry.getKey()
                        + " can't be set on MSK Serverless (topic " + topic + "); editable: " + String.join(", ",
                        new java.util.TreeSet<>(EDITABLE)) + ".");
            }
        }
        String size = configs.get("max.message.bytes");
        if (size != null) {
            long value;
            try {
                value = Long.parseLong(size.trim());
            } catch (NumberFormatException e) {
                return;            // Kafka's own validation refuses it with INVALID_CONFIG
            }
            if (value > MAX_MESSAGE_BYTES) {
                throw new PolicyViolationException("max.message.bytes " + value + " exceeds MSK Serverless's maximum "
                        + MAX_MESSAGE_BYTES + " (8 MiB) for topic " + topic + ".");
            }
        }
    }

    @Override
    public void close() {
    }
}
