package dev.openmsk.iam;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.TopicDescription;
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
 * retention.ms); the cluster has at most 2400 partitions, of which at most 120 in compacted topics (MSK
 * Serverless's partition quota): a new topic's partitions are added to those of the cluster's topics, which the
 * policy counts by asking the brokers (an Admin client on their replication listener, as the controller itself:
 * {@code openmsk.serverless.bootstrap.servers} and the controller listener's own certificate, a super user on the
 * brokers). When the brokers cannot answer within a few seconds the count is skipped (logged) rather than
 * holding the controller's event thread longer; the per-topic limits still apply. CreatePartitions is not a
 * CreateTopics request: this policy does not see it, so a partition increase is not counted.
 * Kafka's internal topics (names starting with "__") are created by the brokers with their own settings and are
 * neither checked nor counted. cleanup.policy may not be altered on a topic the brokers know (MSK Serverless:
 * editable only at creation). Broker resources are not checked here: openmsk's control plane is their only writer
 * on a serverless cluster (clients have no broker listener to reach them with another identity).
 */
public class ServerlessTopicPolicy implements CreateTopicPolicy, AlterConfigPolicy {
    static final Set<String> EDITABLE = Set.of("cleanup.policy", "compression.type", "max.message.bytes",
            "message.timestamp.difference.max.ms", "message.timestamp.type", "retention.bytes", "retention.ms");
    static final long MAX_MESSAGE_BYTES = 8388608L;
    static final int MAX_PARTITIONS = 2400;
    static final int MAX_COMPACTED_PARTITIONS = 120;

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ServerlessTopicPolicy.class);
    static final long COUNT_TIMEOUT_MS = 4000;
    private Map<String, Object> adminConfig;
    private Admin admin;

    @Override
    public void configure(Map<String, ?> configs) {
        Object servers = configs.get("openmsk.serverless.bootstrap.servers");
        if (servers == null || String.valueOf(servers).isEmpty()) {
            return;
        }
        Map<String, Object> admin = ReplicationAdmin.config(String.valueOf(servers), configs,
                "listener.name.controller.", "openmsk-serverless-topic-policy", COUNT_TIMEOUT_MS);
        admin.put("retries", 0);
        this.adminConfig = admin;
    }

    private synchronized Admin admin() {
        if (admin == null && adminConfig != null) {
            admin = Admin.create(adminConfig);
        }
        return admin;
    }

    /** {total partitions, partitions of compacted topics} of the cluster's non-internal topics, or null. */
    private long[] clusterPartitions(boolean needCompacted) {
        Admin client = admin();
        if (client == null) {
            return null;
        }
        try {
            Collection<String> names = client.listTopics(new ListTopicsOptions().listInternal(false)).names()
                    .get(COUNT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            List<String> topics = new ArrayList<>();
            for (String name : names) {
                if (!name.startsWith("__")) {
                    topics.add(name);
                }
            }
            if (topics.isEmpty()) {
                return new long[]{0, 0};
            }
            Map<String, TopicDescription> described = client.describeTopics(topics).allTopicNames()
                    .get(COUNT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            long total = 0;
            for (TopicDescription d : described.values()) {
                total += d.partitions().size();
            }
            long compacted = 0;
            if (needCompacted) {
                List<ConfigResource> resources = new ArrayList<>();
                for (String t : described.keySet()) {
                    resources.add(new ConfigResource(ConfigResource.Type.TOPIC, t));
                }
                Map<ConfigResource, Config> configs = client.describeConfigs(resources).all()
                        .get(COUNT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
                for (Map.Entry<ConfigResource, Config> e : configs.entrySet()) {
                    ConfigEntry policy = e.getValue().get("cleanup.policy");
                    if (policy != null && policy.value() != null && policy.value().contains("compact")) {
                        compacted += described.get(e.getKey().name()).partitions().size();
                    }
                }
            }
            return new long[]{total, compacted};
        } catch (Exception e) {
            LOG.warn("MSK Serverless partition quota: the cluster's partitions could not be counted ({}); "
                    + "only the per-topic limits were checked", e.toString());
            return null;
        }
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
        if (partitions == null) {
            return;
        }
        long[] existing = clusterPartitions(compacted);
        if (existing == null) {
            return;
        }
        if (existing[0] + partitions > MAX_PARTITIONS) {
            throw new PolicyViolationException("Cannot create topic " + request.topic() + ": the cluster has "
                    + existing[0] + " partitions and MSK Serverless allows at most " + MAX_PARTITIONS
                    + " partitions per cluster; " + request.topic() + " asks for " + partitions + ".");
        }
        if (compacted && existing[1] + partitions > MAX_COMPACTED_PARTITIONS) {
            throw new PolicyViolationException("Cannot create topic " + request.topic() + ": the cluster has "
                    + existing[1] + " partitions in compacted topics and MSK Serverless allows at most "
                    + MAX_COMPACTED_PARTITIONS + " compacted partitions per cluster; " + request.topic()
                    + " asks for " + partitions + ".");
        }
    }

    @Override
    public void validate(AlterConfigPolicy.RequestMetadata request) throws PolicyViolationException {
        if (request.resource().type() != ConfigResource.Type.TOPIC || request.resource().name().startsWith("__")) {
            return;
        }
        String topic = request.resource().name();
        checkConfigs(topic, request.configs());
        // MSK Serverless: cleanup.policy is editable "only at topic creation time" (else a topic created with
        // delete's 2400-partition limit could become compacted past the 120 compacted partitions). Kafka's
        // controllers call this policy for a topic being created too (before the CreateTopicPolicy) and do not say
        // which it is; a topic the brokers already know is an existing one
        if (request.configs() != null && request.configs().containsKey("cleanup.policy") && topicExists(topic)) {
            throw new PolicyViolationException("cleanup.policy can only be set when a topic is created on MSK "
                    + "Serverless; topic " + topic + " exists.");
        }
    }

    /** Whether the brokers know {@code topic}; false when they cannot say within a few seconds (logged). */
    private boolean topicExists(String topic) {
        Admin client = admin();
        if (client == null) {
            return false;
        }
        try {
            client.describeTopics(List.of(topic)).allTopicNames().get(COUNT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException) {
                return false;
            }
            LOG.warn("MSK Serverless topic rules: whether {} exists could not be checked ({})", topic, e.toString());
            return false;
        } catch (Exception e) {
            LOG.warn("MSK Serverless topic rules: whether {} exists could not be checked ({})", topic, e.toString());
            return false;
        }
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
    public synchronized void close() {
        if (admin != null) {
            admin.close(java.time.Duration.ofSeconds(2));
            admin = null;
        }
    }
}
