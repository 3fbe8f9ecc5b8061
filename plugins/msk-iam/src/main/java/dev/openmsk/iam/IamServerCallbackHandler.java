package dev.openmsk.iam;

import org.apache.kafka.common.security.auth.AuthenticateCallbackHandler;

import javax.security.auth.callback.Callback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.login.AppConfigurationEntry;
import java.util.List;
import java.util.Map;

/** Holds the control-plane channel for the AWS_MSK_IAM SaslServer (configured from the JAAS options). */
public class IamServerCallbackHandler implements AuthenticateCallbackHandler {
    private ControlPlaneChannel channel;

    @Override
    public void configure(Map<String, ?> configs, String mechanism, List<AppConfigurationEntry> entries) {
        channel = ControlPlaneChannel.of(entries.get(0).getOptions());
    }

    ControlPlaneChannel channel() {
        return channel;
    }

    @Override
    public void handle(Callback[] callbacks) throws UnsupportedCallbackException {
        for (Callback callback : callbacks) {
            throw new UnsupportedCallbackException(callback);
        }
    }

    @Override
    public void close() {
    }
}
