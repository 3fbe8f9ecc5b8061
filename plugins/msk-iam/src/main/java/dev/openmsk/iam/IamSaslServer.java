package dev.openmsk.iam;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.security.auth.callback.CallbackHandler;
import javax.security.sasl.SaslException;
import javax.security.sasl.SaslServer;
import javax.security.sasl.SaslServerFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * SASL/AWS_MSK_IAM, server side. The client (aws-msk-iam-auth's IAMSaslClient) sends one message: a JSON
 * object with a SigV4 presigned `kafka-cluster:Connect` request for this broker's host. The control plane
 * verifies signature, expiry, region and session token with the secret it keeps, and kafka-cluster:Connect
 * against the caller's policies; the answer names the principal (its IAM ARN) and, for temporary
 * credentials, when they expire (the session ends then unless the client re-authenticates, KIP-368).
 * The server answers {"version": "2020_10_22", "request-id": ...}, as MSK does.
 */
public class IamSaslServer implements SaslServer {
    private static final Logger log = LoggerFactory.getLogger(IamSaslServer.class);
    static final String CREDENTIAL_LIFETIME_MS = "CREDENTIAL.LIFETIME.MS";   // SaslInternalConfigs

    private final ControlPlaneChannel channel;
    private final String serverName;
    private boolean complete;
    private String principal;
    private Long credentialExpiryMs;

    IamSaslServer(ControlPlaneChannel channel, String serverName) {
        this.channel = channel;
        this.serverName = serverName;
    }

    @Override
    public String getMechanismName() {
        return IamLoginModule.MECHANISM;
    }

    @Override
    public byte[] evaluateResponse(byte[] response) throws SaslException {
        if (complete) {
            throw new IllegalStateException("Authentication exchange already completed");
        }
        ObjectNode body = ControlPlaneChannel.JSON.createObjectNode();
        body.put("mechanism", IamLoginModule.MECHANISM);
        body.put("auth", new String(response, StandardCharsets.UTF_8));
        body.put("server_host", serverName);
        JsonNode answer;
        try {
            answer = channel.call("authenticate", body);
        } catch (IOException e) {
            log.warn("AWS_MSK_IAM: the control plane could not be asked: {}", e.toString());
            throw new SaslAuthenticationException("Access denied: the authentication service is unavailable");
        }
        if (answer.hasNonNull("error")) {
            throw new SaslAuthenticationException(answer.get("error").asText());
        }
        principal = answer.get("principal").asText();
        credentialExpiryMs = answer.hasNonNull("expires_ms") ? answer.get("expires_ms").asLong() : null;
        complete = true;
        ObjectNode reply = ControlPlaneChannel.JSON.createObjectNode();
        reply.put("version", "2020_10_22");
        reply.put("request-id", answer.path("request_id").asText());
        try {
            return ControlPlaneChannel.JSON.writeValueAsBytes(reply);
        } catch (IOException e) {
            throw new SaslException("cannot encode the response", e);
        }
    }

    @Override
    public boolean isComplete() {
        return complete;
    }

    @Override
    public String getAuthorizationID() {
        if (!complete) {
            throw new IllegalStateException("Authentication exchange has not completed");
        }
        return principal;
    }

    @Override
    public byte[] unwrap(byte[] incoming, int offset, int len) {
        throw new IllegalStateException("AWS_MSK_IAM supports neither integrity nor privacy");
    }

    @Override
    public byte[] wrap(byte[] outgoing, int offset, int len) {
        throw new IllegalStateException("AWS_MSK_IAM supports neither integrity nor privacy");
    }

    @Override
    public Object getNegotiatedProperty(String propName) {
        if (!complete) {
            throw new IllegalStateException("Authentication exchange has not completed");
        }
        return CREDENTIAL_LIFETIME_MS.equals(propName) ? credentialExpiryMs : null;
    }

    @Override
    public void dispose() {
    }

    public static class Factory implements SaslServerFactory {
        @Override
        public SaslServer createSaslServer(String mechanism, String protocol, String serverName,
                                           Map<String, ?> props, CallbackHandler cbh) throws SaslException {
            if (!IamLoginModule.MECHANISM.equals(mechanism)) {
                throw new SaslException("Unsupported mechanism " + mechanism);
            }
            if (!(cbh instanceof IamServerCallbackHandler)) {
                throw new SaslException("AWS_MSK_IAM needs sasl.server.callback.handler.class="
                        + IamServerCallbackHandler.class.getName());
            }
            return new IamSaslServer(((IamServerCallbackHandler) cbh).channel(), serverName);
        }

        @Override
        public String[] getMechanismNames(Map<String, ?> props) {
            return new String[]{IamLoginModule.MECHANISM};
        }
    }
}
