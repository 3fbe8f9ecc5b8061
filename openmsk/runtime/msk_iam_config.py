"""Broker properties of MSK's IAM access control (the `plugins/msk-iam` jar on the broker classpath).

The IAM listener accepts both mechanisms AWS's client libraries use: AWS_MSK_IAM (aws-msk-iam-auth's
IAMLoginModule) and OAUTHBEARER (aws-msk-iam-sasl-signer tokens). The broker holds no secret key: the
SASL servers and the authorizer ask openmsk's control plane over a loopback channel authenticated with
the installation's channel token (`token_file`, 0600); the control plane's address is read from
`endpoint_file` (openmsk serve's endpoint.json), so a service restart on another port rolls nothing.
Requests on other listeners go to Kafka's ACL authorizer (the delegate), as on MSK; `kraft=True` gives
the KRaft pair (IamKRaftAuthorizer + StandardAuthorizer; from Kafka 4.1 on MonitorableIamKRaftAuthorizer, which
hands Kafka's plugin metrics on to StandardAuthorizer: KIP-877). KRaft controllers get `controller_iam_properties`:
they have no IAM listener, but decide the requests brokers forward to them (CreateTopics, AlterConfigs, ...)
whose principal is an IAM ARN by IAM policy.
"""
from __future__ import annotations

AUTHORIZER = "dev.openmsk.iam.IamAuthorizer"
ZK_ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"
# KRaft: the ACL delegate is StandardAuthorizer, fed from the metadata log through ClusterMetadataAuthorizer,
# which IamKRaftAuthorizer passes on (use both on KRaft brokers and controllers).
KRAFT_AUTHORIZER = "dev.openmsk.iam.IamKRaftAuthorizer"
# Kafka 4.1+: the same, Monitorable (in the plugin's build against Kafka 4.1 only, distribution.msk_iam_plugin_jar_dir).
KRAFT_MONITORABLE_AUTHORIZER = "dev.openmsk.iam.MonitorableIamKRaftAuthorizer"
KRAFT_ACL_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def _jaas_options(endpoint_file: str, token_file: str, cluster_arn: str) -> str:
    return f'endpointFile="{endpoint_file}" tokenFile="{token_file}" clusterArn="{cluster_arn}"'


def kraft_authorizer(kafka_version: str) -> str:
    """The IAM authorizer class of a KRaft node running this Apache Kafka release (e.g. "4.1.2")."""
    from .distribution import monitorable_authorizer
    return KRAFT_MONITORABLE_AUTHORIZER if monitorable_authorizer(kafka_version) else KRAFT_AUTHORIZER


def controller_iam_properties(endpoint_file: str, token_file: str, cluster_arn: str,
                              kafka_version: str) -> dict[str, str]:
    """A KRaft controller of a cluster with IAM clients: requests brokers forward with an IAM principal are
    decided by IAM policy (on the client's own address), everything else by StandardAuthorizer."""
    return {
        "authorizer.class.name": kraft_authorizer(kafka_version),
        "openmsk.iam.listeners": "",
        "openmsk.iam.forwarded.principals": "true",
        "openmsk.iam.endpoint.file": endpoint_file,
        "openmsk.iam.token.file": token_file,
        "openmsk.iam.cluster.arn": cluster_arn,
        "openmsk.iam.delegate": KRAFT_ACL_AUTHORIZER,
    }


def iam_properties(listeners: list[str], endpoint_file: str, token_file: str, cluster_arn: str,
                   kraft: bool = False, kafka_version: str = "3.9.1") -> dict[str, str]:
    options = _jaas_options(endpoint_file, token_file, cluster_arn)
    props: dict[str, str] = {}
    for name in listeners:
        prefix = f"listener.name.{name.lower()}."
        props.update({
            prefix + "sasl.enabled.mechanisms": "AWS_MSK_IAM,OAUTHBEARER",
            prefix + "aws_msk_iam.sasl.jaas.config": f"dev.openmsk.iam.IamLoginModule required {options};",
            prefix + "aws_msk_iam.sasl.server.callback.handler.class": "dev.openmsk.iam.IamServerCallbackHandler",
            # unsecuredLoginStringClaim_sub: the broker's own (unused) login token on this listener
            prefix + "oauthbearer.sasl.jaas.config":
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                f'unsecuredLoginStringClaim_sub="openmsk-broker" {options};',
            prefix + "oauthbearer.sasl.server.callback.handler.class": "dev.openmsk.iam.IamOAuthBearerValidator",
        })
    props.update({
        "authorizer.class.name": kraft_authorizer(kafka_version) if kraft else AUTHORIZER,
        "openmsk.iam.listeners": ",".join(listeners),
        "openmsk.iam.endpoint.file": endpoint_file,
        "openmsk.iam.token.file": token_file,
        "openmsk.iam.cluster.arn": cluster_arn,
        "openmsk.iam.delegate": KRAFT_ACL_AUTHORIZER if kraft else ZK_ACL_AUTHORIZER,
    })
    return props
