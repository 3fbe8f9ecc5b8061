package dev.openmsk.iam;

import javax.security.auth.Subject;
import javax.security.auth.callback.CallbackHandler;
import javax.security.auth.spi.LoginModule;
import java.security.Provider;
import java.security.Security;
import java.util.Map;

/**
 * The JAAS login module named in the broker's {@code listener.name.client_iam.aws_msk_iam.sasl.jaas.config}.
 * The broker has nothing to log in with; loading this class registers the AWS_MSK_IAM SaslServerFactory (as
 * Kafka's own PlainLoginModule registers PLAIN). Its options (endpointFile, tokenFile, clusterArn) reach
 * {@link IamServerCallbackHandler}.
 */
public class IamLoginModule implements LoginModule {
    public static final String MECHANISM = "AWS_MSK_IAM";

    static {
        register();
    }

    static synchronized void register() {
        if (Security.getProvider(SaslProvider.NAME) == null) {
            Security.addProvider(new SaslProvider());
        }
    }

    @Override
    public void initialize(Subject subject, CallbackHandler callbackHandler, Map<String, ?> sharedState,
                           Map<String, ?> options) {
    }

    @Override
    public boolean login() {
        return true;
    }

    @Override
    public boolean commit() {
        return true;
    }

    @Override
    public boolean abort() {
        return false;
    }

    @Override
    public boolean logout() {
        return true;
    }

    static final class SaslProvider extends Provider {
        static final String NAME = "openmsk AWS_MSK_IAM SASL server";

        SaslProvider() {
            super(NAME, "1.0", "SASL/AWS_MSK_IAM server verifying through openmsk's control plane");
            put("SaslServerFactory." + MECHANISM, IamSaslServer.Factory.class.getName());
        }
    }
}
