package dev.openmsk.iam;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.common.security.auth.AuthenticateCallbackHandler;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerExtensionsValidatorCallback;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerToken;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.security.auth.callback.Callback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.login.AppConfigurationEntry;
import java.io.IOException;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * SASL/OAUTHBEARER on the IAM listener: the token is what AWS's signer libraries make (aws-msk-iam-sasl-signer-
 * python, the Java library's IAMOAuthBearerLoginCallbackHandler): a base64url SigV4 presigned URL for
 * kafka-cluster:Connect. The control plane verifies it as for AWS_MSK_IAM.
 */
public class IamOAuthBearerValidator implements AuthenticateCallbackHandler {
    private static final Logger log = LoggerFactory.getLogger(IamOAuthBearerValidator.class);
    private ControlPlaneChannel channel;

    @Override
    public void configure(Map<String, ?> configs, String mechanism, List<AppConfigurationEntry> entries) {
        channel = ControlPlaneChannel.of(entries.get(0).getOptions());
    }

    @Override
    public void handle(Callback[] callbacks) throws IOException, UnsupportedCallbackException {
        for (Callback callback : callbacks) {
            if (callback instanceof OAuthBearerValidatorCallback) {
                validate((OAuthBearerValidatorCallback) callback);
            } else if (!(callback instanceof OAuthBearerExtensionsValidatorCallback)) {
                throw new UnsupportedCallbackException(callback);
            }   // SASL extensions carry nothing IAM needs: left unvalidated, Kafka ignores them
        }
    }

    private void validate(OAuthBearerValidatorCallback callback) {
        ObjectNode body = ControlPlaneChannel.JSON.createObjectNode();
        body.put("mechanism", "OAUTHBEARER");
        body.put("auth", callback.tokenValue());
        JsonNode answer;
        try {
            answer = channel.call("authenticate", body);
        } catch (IOException e) {
            log.warn("OAUTHBEARER: the control plane could not be asked: {}", e.toString());
            callback.error("invalid_token", null, null);
            return;
        }
        if (answer.hasNonNull("error")) {
            log.info("OAUTHBEARER token refused: {}", answer.get("error").asText());
            callback.error("invalid_token", null, null);
            return;
        }
        String principal = answer.get("principal").asText();
        long now = System.currentTimeMillis();
        long lifetime = answer.hasNonNull("expires_ms") ? answer.get("expires_ms").asLong()
                : answer.path("session_ms").asLong(now + 3_600_000L);
        String value = callback.tokenValue();
        callback.token(new OAuthBearerToken() {
            @Override public String value() { return value; }
            @Override public Set<String> scope() { return Collections.emptySet(); }
            @Override public long lifetimeMs() { return lifetime; }
            @Override public String principalName() { return principal; }
            @Override public Long startTimeMs() { return now; }
        });
    }

    @Override
    public void close() {
    }
}
