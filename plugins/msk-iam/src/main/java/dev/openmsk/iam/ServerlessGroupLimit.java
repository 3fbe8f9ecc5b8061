package dev.openmsk.iam;

import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * MSK Serverless's "maximum number of consumer groups" (500 per cluster; MSK: "JoinGroup request fails"), which
 * Kafka has no setting for ({@code group.max.size} counts the members of one group). The broker's authorizer
 * (IamAuthorizer) asks {@link #admit} before it allows READ on a group, the permission every request that creates
 * a group needs (JoinGroup, ConsumerGroupHeartbeat, OffsetCommit, TxnOffsetCommit, AddOffsetsToTxn): a group id
 * the cluster does not have yet is refused while the cluster has the maximum, so the client gets Kafka's
 * GROUP_AUTHORIZATION_FAILED (the only error an authorizer can give).
 *
 * <p>The cluster's groups are each held by one broker (the group's coordinator), so every second a background
 * thread lists them all (Admin listConsumerGroups, which asks every broker) on the brokers' replication listener as
 * the broker itself ({@code openmsk.serverless.bootstrap.servers}, the broker's own certificate: a super user). Group
 * ids this broker admitted in the last {@link #RECENT_MS} count too, so groups created between two listings are
 * not missed here; two brokers admitting new groups within the same second can still pass the maximum by the
 * groups the other admitted. Until the first listing succeeds (brokers starting) nothing is refused.
 *
 * <p>Broker properties: {@code openmsk.serverless.max.consumer.groups}, {@code openmsk.serverless.bootstrap.servers}.
 */
final class ServerlessGroupLimit implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServerlessGroupLimit.class);
    static final long REFRESH_MS = 1000;
    static final long RECENT_MS = 10_000;
    static final long LIST_TIMEOUT_MS = 5000;

    private final int max;
    private final Admin admin;
    private final ScheduledExecutorService timer;
    private volatile Set<String> listed;                             // null until the first listing
    private final Map<String, Long> recent = new ConcurrentHashMap<>();  // admitted here: id -> nanoTime

    private ServerlessGroupLimit(int max, Map<String, Object> adminConfig) {
        this.max = max;
        this.admin = Admin.create(adminConfig);
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "openmsk-serverless-group-limit");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::refresh, 0, REFRESH_MS, TimeUnit.MILLISECONDS);
    }

    /** The limit the broker properties ask for, or null (not a serverless broker). */
    static ServerlessGroupLimit from(Map<String, ?> configs) {
        Object max = configs.get("openmsk.serverless.max.consumer.groups");
        Object servers = configs.get("openmsk.serverless.bootstrap.servers");
        if (max == null || String.valueOf(max).isBlank() || servers == null || String.valueOf(servers).isBlank()) {
            return null;
        }
        Map<String, Object> admin = ReplicationAdmin.config(String.valueOf(servers), configs, "",
                "openmsk-serverless-group-limit", LIST_TIMEOUT_MS);
        return new ServerlessGroupLimit(Integer.parseInt(String.valueOf(max).trim()), admin);
    }

    private void refresh() {
        try {
            Collection<ConsumerGroupListing> groups = admin.listConsumerGroups().all()
                    .get(LIST_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            Set<String> ids = new HashSet<>();
            for (ConsumerGroupListing g : groups) {
                ids.add(g.groupId());
            }
            listed = ids;
            long old = System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(RECENT_MS);
            recent.values().removeIf(t -> t < old);
        } catch (Exception e) {
            LOG.debug("MSK Serverless consumer group limit: the cluster's groups could not be listed ({})", e.toString());
        } catch (Throwable t) {       // keep the timer alive: a thrown Error would cancel the schedule
            LOG.warn("MSK Serverless consumer group limit: listing failed", t);
        }
    }

    /** May a request use {@code groupId}: a group the cluster has, or a new one while the cluster has fewer than the
     * maximum (then it counts from now on). */
    boolean admit(String groupId) {
        Set<String> known = listed;
        if (known == null || known.contains(groupId) || recent.containsKey(groupId)) {
            return true;
        }
        synchronized (this) {
            int count = known.size();
            for (String id : recent.keySet()) {
                if (!known.contains(id)) {
                    count++;
                }
            }
            if (count >= max) {
                LOG.info("MSK Serverless consumer group limit: group {} refused, the cluster has {} groups (maximum {})",
                        groupId, count, max);
                return false;
            }
            recent.put(groupId, System.nanoTime());
            return true;
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        admin.close(java.time.Duration.ofSeconds(2));
    }
}
