package dev.openmsk.iam;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** An Admin client's settings for reaching a cluster's brokers on their replication listener (9093, TLS with a
 * client certificate) as the node the plugin runs in: its own keystore, a super user on the brokers. */
final class ReplicationAdmin {
    private ReplicationAdmin() {
    }

    /** {@code sslPrefix}: where the node's own TLS settings are in {@code configs} ("" on brokers,
     * "listener.name.controller." on KRaft controllers). */
    static Map<String, Object> config(String servers, Map<String, ?> configs, String sslPrefix, String clientId,
                                      long timeoutMs) {
        Map<String, Object> admin = new HashMap<>();
        admin.put("bootstrap.servers", servers);
        admin.put("security.protocol", "SSL");
        for (String key : List.of("ssl.keystore.type", "ssl.keystore.location", "ssl.truststore.type",
                "ssl.truststore.location", "ssl.enabled.protocols", "ssl.endpoint.identification.algorithm")) {
            Object value = configs.get(sslPrefix + key);
            if (value != null) {
                admin.put(key, String.valueOf(value));
            }
        }
        admin.put("client.id", clientId);
        admin.put("request.timeout.ms", (int) timeoutMs);
        admin.put("default.api.timeout.ms", (int) timeoutMs);
        return admin;
    }
}
