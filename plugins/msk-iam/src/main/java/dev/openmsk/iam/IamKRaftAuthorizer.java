package dev.openmsk.iam;

import org.apache.kafka.common.Uuid;
import org.apache.kafka.metadata.authorizer.AclMutator;
import org.apache.kafka.metadata.authorizer.ClusterMetadataAuthorizer;
import org.apache.kafka.metadata.authorizer.StandardAcl;

import java.util.Map;

/**
 * {@link IamAuthorizer} for KRaft brokers and controllers: the ACL delegate there is Kafka's StandardAuthorizer,
 * which the broker feeds ACLs from the metadata log only through ClusterMetadataAuthorizer; this class passes
 * those calls on to it. Broker property: openmsk.iam.delegate=org.apache.kafka.metadata.authorizer.StandardAuthorizer.
 */
public class IamKRaftAuthorizer extends IamAuthorizer implements ClusterMetadataAuthorizer {
    private ClusterMetadataAuthorizer metadata() {
        if (!(delegate instanceof ClusterMetadataAuthorizer)) {
            throw new IllegalStateException("openmsk.iam.delegate must be a ClusterMetadataAuthorizer under KRaft");
        }
        return (ClusterMetadataAuthorizer) delegate;
    }

    @Override
    public void setAclMutator(AclMutator aclMutator) {
        metadata().setAclMutator(aclMutator);
    }

    @Override
    public AclMutator aclMutatorOrException() {
        return metadata().aclMutatorOrException();
    }

    @Override
    public void completeInitialLoad() {
        metadata().completeInitialLoad();
    }

    @Override
    public void completeInitialLoad(Exception e) {
        metadata().completeInitialLoad(e);
    }

    @Override
    public void loadSnapshot(Map<Uuid, StandardAcl> acls) {
        metadata().loadSnapshot(acls);
    }

    @Override
    public void addAcl(Uuid id, StandardAcl acl) {
        metadata().addAcl(id, acl);
    }

    @Override
    public void removeAcl(Uuid id) {
        metadata().removeAcl(id);
    }
}
