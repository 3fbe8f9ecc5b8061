package dev.openmsk.iam;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.common.Endpoint;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.server.authorizer.AclCreateResult;
import org.apache.kafka.server.authorizer.AclDeleteResult;
import org.apache.kafka.server.authorizer.Action;
import org.apache.kafka.server.authorizer.AuthorizableRequestContext;
import org.apache.kafka.server.authorizer.AuthorizationResult;
import org.apache.kafka.server.authorizer.Authorizer;
import org.apache.kafka.server.authorizer.AuthorizerServerInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * MSK's authorizer: requests on the IAM listener(s) are decided by IAM policies (kafka-cluster:* actions on
 * cluster, topic, group and transactional-id ARNs; the cluster policy as a resource policy); requests on every
 * other listener go to the delegate (Kafka's ACL authorizer), as on MSK where ACLs do not apply to IAM
 * principals. Decisions come from the control plane in one call per request batch and are cached for
 * {@code ttl_ms} (a revoked permission bites within seconds). Written against Kafka's public Authorizer
 * interface only.
 *
 * On KRaft controllers (openmsk.iam.forwarded.principals=true) there is no IAM listener: brokers forward
 * CreateTopics, DeleteTopics, CreatePartitions, (Incremental)AlterConfigs, ... to the controllers in envelopes,
 * which arrive on the CONTROLLER listener with the client's own principal and address. There a request whose
 * principal is an IAM ARN (the name IamSaslServer gives IAM clients) is decided by IAM policies; all others
 * (brokers, SCRAM users, certificate subjects) by the delegate.
 *
 * Broker properties: openmsk.iam.{endpoint.file, token.file, cluster.arn, listeners, delegate,
 * forwarded.principals}.
 */
public class IamAuthorizer implements Authorizer {
    private static final Logger log = LoggerFactory.getLogger("kafka.authorizer.logger");
    private static final int MAX_CACHE = 100_000;

    private ControlPlaneChannel channel;
    private Set<String> iamListeners = Collections.emptySet();
    private boolean forwardedPrincipals;
    protected Authorizer delegate;
    private ServerlessGroupLimit groupLimit;      // serverless brokers only: MSK Serverless's consumer group quota
    private final Map<String, long[]> cache = new ConcurrentHashMap<>();   // key -> {allowed 0/1, expiry nanos}
    // authorize() wall time per path, read through JMX (bench/iam.py: the warm-cache cost per request)
    private AuthorizeTimer cachedTime;
    private AuthorizeTimer askedTime;
    private AuthorizeTimer delegateTime;

    @Override
    public void configure(Map<String, ?> configs) {
        cachedTime = AuthorizeTimer.register("AuthorizeTime", "cached");
        askedTime = AuthorizeTimer.register("AuthorizeTime", "asked");
        delegateTime = AuthorizeTimer.register("AuthorizeTime", "delegate");
        Map<String, Object> options = new HashMap<>();
        options.put("endpointFile", configs.get("openmsk.iam.endpoint.file"));
        options.put("tokenFile", configs.get("openmsk.iam.token.file"));
        options.put("clusterArn", configs.get("openmsk.iam.cluster.arn"));
        channel = ControlPlaneChannel.of(options);
        Object listeners = configs.get("openmsk.iam.listeners");
        iamListeners = new HashSet<>();
        for (String name : String.valueOf(listeners == null ? "" : listeners).split(",")) {
            if (!name.isBlank()) {
                iamListeners.add(name.trim().toUpperCase());
            }
        }
        groupLimit = ServerlessGroupLimit.from(configs);
        forwardedPrincipals = Boolean.parseBoolean(String.valueOf(configs.get("openmsk.iam.forwarded.principals")));
        Object delegateClass = configs.get("openmsk.iam.delegate");
        if (delegateClass != null && !delegateClass.toString().isBlank()) {
            try {
                delegate = (Authorizer) Class.forName(delegateClass.toString().trim())
                        .getDeclaredConstructor().newInstance();
            } catch (ReflectiveOperationException e) {
                throw new IllegalArgumentException("openmsk.iam.delegate: cannot create " + delegateClass, e);
            }
            delegate.configure(configs);
        }
    }

    @Override
    public Map<Endpoint, ? extends CompletionStage<Void>> start(AuthorizerServerInfo serverInfo) {
        if (delegate != null) {
            return delegate.start(serverInfo);
        }
        return serverInfo.endpoints().stream()
                .collect(Collectors.toMap(e -> e, e -> CompletableFuture.<Void>completedFuture(null)));
    }

    private boolean isIam(AuthorizableRequestContext context) {
        if (context.listenerName() != null && iamListeners.contains(context.listenerName().toUpperCase())) {
            return true;
        }
        return forwardedPrincipals && context.principal() != null
                && KafkaPrincipal.USER_TYPE.equals(context.principal().getPrincipalType())
                && context.principal().getName().startsWith("arn:");
    }

    @Override
    public List<AuthorizationResult> authorize(AuthorizableRequestContext context, List<Action> actions) {
        long now = System.nanoTime();
        long cpu = AuthorizeTimer.cpuNow();
        if (!isIam(context)) {
            if (delegate != null) {
                List<AuthorizationResult> decided = delegate.authorize(context, actions);
                delegateTime.record(now, cpu);
                return decided;
            }
            return Collections.nCopies(actions.size(), AuthorizationResult.ALLOWED);
        }
        String principal = context.principal().getName();
        String client = context.clientAddress() == null ? "" : context.clientAddress().getHostAddress();
        AuthorizationResult[] results = new AuthorizationResult[actions.size()];
        List<Integer> missing = new ArrayList<>();
        for (int i = 0; i < actions.size(); i++) {
            long[] hit = cache.get(key(principal, client, actions.get(i)));
            if (hit != null && hit[1] > now) {
                results[i] = hit[0] == 1 ? AuthorizationResult.ALLOWED : AuthorizationResult.DENIED;
            } else {
                missing.add(i);
            }
        }
        if (!missing.isEmpty()) {
            ask(principal, client, actions, missing, results);
        }
        for (int i = 0; i < actions.size(); i++) {
            Action action = actions.get(i);
            // after the policy decision (cached) and never cached itself: a new group is refused while the
            // serverless cluster has its maximum of groups, and admitted again once one is deleted
            if (groupLimit != null && results[i] == AuthorizationResult.ALLOWED
                    && action.resourcePattern().resourceType() == ResourceType.GROUP
                    && action.operation() == AclOperation.READ && !groupLimit.admit(action.resourcePattern().name())) {
                results[i] = AuthorizationResult.DENIED;
            }
            if (results[i] == AuthorizationResult.DENIED && action.logIfDenied()) {
                log.info("Principal = User:{} is Denied operation = {} from host = {} on resource = {} (IAM)",
                        principal, action.operation(), client, action.resourcePattern());
            }
        }
        (missing.isEmpty() ? cachedTime : askedTime).record(now, cpu);
        return Arrays.asList(results);
    }

    private static String key(String principal, String client, Action action) {
        return principal + "\u0000" + client + "\u0000" + action.resourcePattern().resourceType() + "\u0000"
                + action.operation() + "\u0000" + action.resourcePattern().name();
    }

    private void ask(String principal, String client, List<Action> actions, List<Integer> which,
                     AuthorizationResult[] results) {
        ObjectNode body = ControlPlaneChannel.JSON.createObjectNode();
        body.put("principal", principal);
        body.put("client_ip", client);
        ArrayNode checks = body.putArray("checks");
        for (int i : which) {
            Action action = actions.get(i);
            ObjectNode check = checks.addObject();
            check.put("type", action.resourcePattern().resourceType().name());
            check.put("operation", action.operation().name());
            check.put("name", action.resourcePattern().name());
        }
        JsonNode answer = null;
        try {
            answer = channel.call("authorize", body);
        } catch (IOException e) {
            log.warn("IAM authorization: the control plane could not be asked ({}); denying", e.toString());
        }
        JsonNode allowed = answer == null ? null : answer.get("allowed");
        long ttlNanos = (answer == null ? 0 : answer.path("ttl_ms").asLong(0)) * 1_000_000L;
        if (cache.size() > MAX_CACHE) {
            cache.clear();
        }
        long expiry = System.nanoTime() + ttlNanos;
        for (int j = 0; j < which.size(); j++) {
            boolean ok = allowed != null && allowed.size() == which.size() && allowed.get(j).asBoolean(false);
            int i = which.get(j);
            results[i] = ok ? AuthorizationResult.ALLOWED : AuthorizationResult.DENIED;
            if (answer != null && ttlNanos > 0) {
                cache.put(key(principal, client, actions.get(i)), new long[]{ok ? 1 : 0, expiry});
            }
        }
    }

    /** For an IAM principal: may it do {@code op} on *some* resource of the type (Kafka asks this before
     * InitProducerId when idempotent writes are not allowed on the cluster): asked on the type's wildcard ARN. */
    @Override
    public AuthorizationResult authorizeByResourceType(AuthorizableRequestContext context, AclOperation op,
                                                       ResourceType type) {
        if (!isIam(context)) {
            return delegate != null ? delegate.authorizeByResourceType(context, op, type)
                    : AuthorizationResult.ALLOWED;
        }
        Action action = new Action(op, new org.apache.kafka.common.resource.ResourcePattern(type, "*",
                org.apache.kafka.common.resource.PatternType.LITERAL), 1, false, false);
        return authorize(context, Collections.singletonList(action)).get(0);
    }

    @Override
    public List<? extends CompletionStage<AclCreateResult>> createAcls(AuthorizableRequestContext context,
                                                                       List<AclBinding> bindings) {
        if (delegate != null) {
            return delegate.createAcls(context, bindings);
        }
        return bindings.stream().map(b -> CompletableFuture.completedFuture(new AclCreateResult(
                new InvalidRequestException("ACLs are not enabled on this cluster")))).collect(Collectors.toList());
    }

    @Override
    public List<? extends CompletionStage<AclDeleteResult>> deleteAcls(AuthorizableRequestContext context,
                                                                       List<AclBindingFilter> filters) {
        if (delegate != null) {
            return delegate.deleteAcls(context, filters);
        }
        return filters.stream().map(f -> CompletableFuture.completedFuture(new AclDeleteResult(
                Collections.emptyList()))).collect(Collectors.toList());
    }

    @Override
    public Iterable<AclBinding> acls(AclBindingFilter filter) {
        return delegate != null ? delegate.acls(filter) : Collections.emptyList();
    }

    @Override
    public int aclCount() {
        return delegate != null ? delegate.aclCount() : 0;
    }

    @Override
    public void close() throws IOException {
        if (groupLimit != null) {
            groupLimit.close();
        }
        if (delegate != null) {
            delegate.close();
        }
    }
}
