package dev.openmsk.iam;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.utils.Sanitizer;
import org.apache.kafka.server.quota.ClientQuotaCallback;
import org.apache.kafka.server.quota.ClientQuotaEntity;
import org.apache.kafka.server.quota.ClientQuotaType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * MSK Serverless's throughput quotas on a serverless cluster's brokers ({@code client.quota.callback.class}):
 * the per-client quotas of the cluster's metadata (AlterClientQuotas: the default 5 MiB/s produce, 10 MiB/s fetch
 * of every user and client id) and, on top of them, the cluster's total (200 MiB/s in, 400 MiB/s out), which
 * Kafka has no quota for. Each broker takes its share of the cluster's total
 * ({@code openmsk.serverless.cluster.{ingress,egress}.bytes.per.second} / {@code openmsk.serverless.brokers}) and,
 * every second, reads what each client moved through it (Kafka's own quota metrics, {@code byte-rate} of
 * {@code kafka.server:type=Produce|Fetch,user=…,client-id=…}, over Kafka's quota window); when the clients together
 * ask for more than the broker's share it sets a common ceiling below which they fit (max-min fairness: clients
 * using less keep what they use, the others share the rest equally), and Kafka throttles each client over
 * min(its own quota, the ceiling) as it throttles any quota (throttle_time_ms, delayed responses). The ceiling
 * goes once the clients have fit under the share for 10 s. Under the share there is no ceiling: a single client
 * gets its whole per-client quota.
 *
 * <p>Quotas apply per (user, client id) pair; a quota configured for a user alone is applied to each of its
 * client ids (Kafka's default callback would share it among them). REQUEST and CONTROLLER_MUTATION quotas are the
 * configured ones (brokers forward controller mutations to the KRaft controllers, which enforce them).
 */
public class ServerlessQuotaCallback implements ClientQuotaCallback {
    private static final Logger LOG = LoggerFactory.getLogger(ServerlessQuotaCallback.class);
    static final double WANTS_MORE = 0.7;       // a client moving >= 70% of its limit is held back by it
    static final int RELEASE_AFTER = 10;        // seconds the clients must fit under the share before the ceiling goes
    static final double HEADROOM = 1.2;         // others may grow 20% before the next adjustment

    private final Map<ClientQuotaType, Map<String, Double>> configured = new EnumMap<>(ClientQuotaType.class);
    private final Map<ClientQuotaType, AtomicBoolean> reset = new EnumMap<>(ClientQuotaType.class);
    private final Map<ClientQuotaType, Double> ceiling = new ConcurrentHashMap<>();
    private final Map<ClientQuotaType, Double> share = new EnumMap<>(ClientQuotaType.class);
    private final Map<ClientQuotaType, Integer> fitting = new ConcurrentHashMap<>();
    private ScheduledExecutorService timer;

    public ServerlessQuotaCallback() {
        for (ClientQuotaType type : ClientQuotaType.values()) {
            configured.put(type, new ConcurrentHashMap<>());
            reset.put(type, new AtomicBoolean(false));
        }
    }

    private static double number(Map<String, ?> configs, String key, double fallback) {
        Object value = configs.get(key);
        return value == null || String.valueOf(value).isBlank() ? fallback : Double.parseDouble(String.valueOf(value));
    }

    @Override
    public void configure(Map<String, ?> configs) {
        double brokers = Math.max(1, number(configs, "openmsk.serverless.brokers", 1));
        double in = number(configs, "openmsk.serverless.cluster.ingress.bytes.per.second", 0);
        double out = number(configs, "openmsk.serverless.cluster.egress.bytes.per.second", 0);
        if (in > 0) {
            share.put(ClientQuotaType.PRODUCE, in / brokers);
        }
        if (out > 0) {
            share.put(ClientQuotaType.FETCH, out / brokers);
        }
        if (!share.isEmpty()) {
            timer = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "openmsk-serverless-quota");
                t.setDaemon(true);
                return t;
            });
            timer.scheduleWithFixedDelay(this::adjust, 1, 1, TimeUnit.SECONDS);
            LOG.info("MSK Serverless cluster throughput: this broker's share {} B/s in, {} B/s out",
                    share.get(ClientQuotaType.PRODUCE), share.get(ClientQuotaType.FETCH));
        }
    }

    // -- configured quotas (AlterClientQuotas), with Kafka's precedence -------------------------------------------
    private static String key(String user, String client) {
        return (user == null ? "" : "u=" + user) + "|" + (client == null ? "" : "c=" + client);
    }

    private static String key(ClientQuotaEntity entity) {
        String user = null;
        String client = null;
        for (ClientQuotaEntity.ConfigEntity e : entity.configEntities()) {
            switch (e.entityType()) {
                case USER: user = Sanitizer.desanitize(e.name()); break;
                case DEFAULT_USER: user = "\u0000"; break;
                case CLIENT_ID: client = e.name(); break;
                case DEFAULT_CLIENT_ID: client = "\u0000"; break;
                default: break;
            }
        }
        return key(user, client);
    }

    private Double configuredFor(ClientQuotaType type, String user, String client) {
        Map<String, Double> quotas = configured.get(type);
        if (quotas.isEmpty()) {
            return null;
        }
        String any = "\u0000";
        for (String k : new String[]{key(user, client), key(user, any), key(user, null), key(any, client),
                key(any, any), key(any, null), key(null, client), key(null, any)}) {
            Double q = quotas.get(k);
            if (q != null) {
                return q;
            }
        }
        return null;
    }

    @Override
    public Map<String, String> quotaMetricTags(ClientQuotaType type, KafkaPrincipal principal, String clientId) {
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put("user", Sanitizer.sanitize(principal.getName()));
        tags.put("client-id", clientId == null ? "" : clientId);
        return tags;
    }

    private Double limit(ClientQuotaType type, String user, String client) {
        Double own = configuredFor(type, user, client);
        Double common = ceiling.get(type);
        if (own == null) {
            return common;
        }
        return common == null ? own : Math.min(own, common);
    }

    @Override
    public Double quotaLimit(ClientQuotaType type, Map<String, String> tags) {
        return limit(type, Sanitizer.desanitize(tags.getOrDefault("user", "")), tags.getOrDefault("client-id", ""));
    }

    @Override
    public void updateQuota(ClientQuotaType type, ClientQuotaEntity entity, double value) {
        configured.get(type).put(key(entity), value);
        reset.get(type).set(true);
    }

    @Override
    public void removeQuota(ClientQuotaType type, ClientQuotaEntity entity) {
        configured.get(type).remove(key(entity));
        reset.get(type).set(true);
    }

    @Override
    public boolean quotaResetRequired(ClientQuotaType type) {
        return reset.get(type).getAndSet(false);
    }

    @Override
    public boolean updateClusterMetadata(Cluster cluster) {
        return false;
    }

    // -- the cluster's total: a common ceiling when the clients ask for more than this broker's share ------------
    private void adjust() {
        try {
            for (Map.Entry<ClientQuotaType, Double> e : share.entrySet()) {
                adjust(e.getKey(), e.getKey() == ClientQuotaType.PRODUCE ? "Produce" : "Fetch", e.getValue());
            }
        } catch (RuntimeException e) {
            LOG.warn("MSK Serverless cluster throughput: adjustment failed ({})", e.toString());
        }
    }

    private void adjust(ClientQuotaType type, String mbeanType, double cap) throws RuntimeException {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        List<Double> demands = new ArrayList<>();
        try {
            Set<ObjectName> names = server.queryNames(new ObjectName("kafka.server:type=" + mbeanType + ",*"), null);
            for (ObjectName name : names) {
                String user = name.getKeyProperty("user");
                String client = name.getKeyProperty("client-id");
                if (user == null || client == null) {
                    continue;
                }
                Object rate = server.getAttribute(name, "byte-rate");
                double r = rate instanceof Number ? ((Number) rate).doubleValue() : 0;
                if (!(r > 0)) {
                    continue;
                }
                String u = Sanitizer.desanitize(user.startsWith("\"") ? ObjectName.unquote(user) : user);
                String c = client.startsWith("\"") ? ObjectName.unquote(client) : client;
                Double now = limit(type, u, c);
                Double own = configuredFor(type, u, c);
                boolean held = now != null && r >= WANTS_MORE * now;
                demands.add(held ? (own == null ? Double.POSITIVE_INFINITY : own) : r * HEADROOM);
            }
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
        Double level = waterLevel(demands, cap);
        Double old = ceiling.get(type);
        if (level == null && old != null) {
            // the clients fit under the share: keep the ceiling until they have for RELEASE_AFTER seconds (a
            // throttled client's rate dips below its limit between throttled responses; releasing at once would
            // let it burst to its own quota and oscillate around the share)
            int seconds = fitting.merge(type, 1, Integer::sum);
            if (seconds < RELEASE_AFTER) {
                return;
            }
        }
        fitting.remove(type);
        boolean changed = level == null ? old != null
                : old == null || Math.abs(level - old) > 0.05 * old;
        if (changed) {
            if (level == null) {
                ceiling.remove(type);
            } else {
                ceiling.put(type, level);
            }
            reset.get(type).set(true);
            LOG.debug("MSK Serverless cluster throughput: {} ceiling {} B/s ({} clients)", type, level,
                    demands.size());
        }
    }

    /** The max-min fair level: demands under it are met, the rest get it; null when all demands fit. */
    static Double waterLevel(List<Double> demands, double cap) {
        List<Double> sorted = new ArrayList<>(demands);
        Collections.sort(sorted);
        double remaining = cap;
        int n = sorted.size();
        for (int i = 0; i < n; i++) {
            double d = sorted.get(i);
            if (d * (n - i) > remaining) {
                return remaining / (n - i);
            }
            remaining -= d;
        }
        return null;
    }

    @Override
    public void close() {
        if (timer != null) {
            timer.shutdownNow();
        }
    }
}
