package dev.openmsk.iam;

import org.apache.kafka.common.metrics.Monitorable;
import org.apache.kafka.common.metrics.PluginMetrics;

/**
 * {@link IamKRaftAuthorizer} for Kafka 4.1 and later (built only by the pom's kafka41 profile, against Kafka
 * 4.1's jars). Kafka 4.1's StandardAuthorizer is a Monitorable plugin (KIP-877): the broker or controller hands
 * the configured authorizer its metrics with withPluginMetrics (after configure), and StandardAuthorizer.authorize
 * records into them, failing with a NullPointerException without them. As that authorizer's wrapper this class
 * receives them and passes them on to its delegate.
 */
public class MonitorableIamKRaftAuthorizer extends IamKRaftAuthorizer implements Monitorable {
    @Override
    public void withPluginMetrics(PluginMetrics metrics) {
        if (delegate instanceof Monitorable) {
            ((Monitorable) delegate).withPluginMetrics(metrics);
        }
    }
}
