package dev.openmsk.iam;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The broker's loopback channel to openmsk's control plane, where identities, secret keys and policies live.
 * Requests carry the per-installation channel token (a 0600 file the control plane gives every broker); the
 * control plane's address is read from the installation's endpoint file, re-read when a call fails (the
 * service may restart on another port without the brokers being rolled).
 */
final class ControlPlaneChannel {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, ControlPlaneChannel> SHARED = new ConcurrentHashMap<>();
    /** Per route, the wall and CPU time of each call (JMX name=ControlPlaneCall,path=route; bench/iam.py). */
    private static final Map<String, AuthorizeTimer> TIMERS = new ConcurrentHashMap<>();

    private final Path endpointFile;
    private final Path tokenFile;
    final String clusterArn;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    private volatile String baseUrl;
    private volatile String token;

    private ControlPlaneChannel(String endpointFile, String tokenFile, String clusterArn) {
        this.endpointFile = Path.of(endpointFile);
        this.tokenFile = Path.of(tokenFile);
        this.clusterArn = clusterArn;
    }

    /** One channel per (endpoint file, token file, cluster): shared by the SASL servers and the authorizer. */
    static ControlPlaneChannel of(Map<String, ?> options) {
        String endpoint = required(options, "endpointFile");
        String tokenFile = required(options, "tokenFile");
        String cluster = required(options, "clusterArn");
        return SHARED.computeIfAbsent(endpoint + "|" + tokenFile + "|" + cluster,
                k -> new ControlPlaneChannel(endpoint, tokenFile, cluster));
    }

    private static String required(Map<String, ?> options, String key) {
        Object value = options.get(key);
        if (value == null || value.toString().isEmpty()) {
            throw new IllegalArgumentException("openmsk MSK IAM plugin: option " + key + " is required");
        }
        return value.toString();
    }

    private void load() throws IOException {
        JsonNode endpoint = JSON.readTree(Files.readAllBytes(endpointFile));
        baseUrl = "http://" + endpoint.get("host").asText() + ":" + endpoint.get("port").asInt();
        token = new String(Files.readAllBytes(tokenFile), StandardCharsets.UTF_8).trim();
    }

    /** POST a JSON object to /_openmsk/v1/msk-iam/{route}; returns the JSON answer (any HTTP status). */
    JsonNode call(String route, ObjectNode body) throws IOException {
        AuthorizeTimer timer = TIMERS.computeIfAbsent(route, r -> AuthorizeTimer.register("ControlPlaneCall", r));
        long start = System.nanoTime();
        long cpu = AuthorizeTimer.cpuNow();
        try {
            return post(route, body);
        } finally {
            timer.record(start, cpu);
        }
    }

    private JsonNode post(String route, ObjectNode body) throws IOException {
        body.put("cluster_arn", clusterArn);
        byte[] bytes = JSON.writeValueAsBytes(body);
        IOException last = null;
        for (int attempt = 0; attempt < 2; attempt++) {
            try {
                if (baseUrl == null || attempt > 0) {
                    load();
                }
                HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/_openmsk/v1/msk-iam/" + route))
                        .timeout(Duration.ofSeconds(10))
                        .header("Content-Type", "application/json")
                        .header("X-Openmsk-Broker-Token", token)
                        .POST(HttpRequest.BodyPublishers.ofByteArray(bytes)).build();
                HttpResponse<byte[]> response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
                if (response.statusCode() == 401 && attempt == 0) {
                    continue;                       // token rotated: re-read it once
                }
                return JSON.readTree(response.body());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            } catch (IOException e) {
                last = e;
            }
        }
        throw last != null ? last : new IOException("the control plane refused the broker's channel token");
    }
}
