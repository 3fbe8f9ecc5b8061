"""The composition root: builds openmsk's object graph once and hands each part the narrow
interfaces it needs. `server.py` serves what `build()` returns; the CLI uses `local_plane()` where it
needs a control plane without the service (`openmsk down`).

    Store (SQLite, one per installation)
      ├─ KeyStore (kms) ─ SecretStore (secretsmanager) ──scram_secrets──┐
      ├─ PrivateCertificateAuthorities (acm-pca) ───────client_cas────┤
      ├─ ConfigurationStore (kafka's own documents)                   ▼
      └─────────────────────────────────────────────────────────▶ ControlPlane ── telemetry (collector)

No service writes another layer's store or attaches attributes to the plane; the control plane sees
the service backends only through control/ports.py. To add a service, add its backend to
`Installation` (if it has one) and ONE line to `providers()`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import config, telemetry
from .api.core import Provider
from .control.channel_relays import ControlPlaneChannelRelays
from .control.plane import ControlPlane
from .control.store import Store
from .control.topic_admin import TopicAdmin
from .control.vpc_endpoints import VpcEndpoints
from .services.acm_pca import AcmPcaProvider, PrivateCertificateAuthorities
from .services.application_autoscaling import ApplicationAutoScalingProvider, ScalingStore, StorageAutoScaler
from .services.application_autoscaling.backend import storage_utilization
from .services.cloudwatch import AlarmBackend, AlarmEvaluator, CloudWatchProvider, alarm_interval
from .services.ec2 import Ec2Provider
from .services.kafka import KafkaProvider
from .services.kafka.configuration_store import ConfigurationStore
from .services.kafka.policies import ClusterPolicyStore
from .services.kafka.vpc_connections import VpcConnectionStore
from .services.kafka.storage import StorageScaling
from .services.kms import KeyStore, KmsProvider
from .services.logs import LogStore, LogsProvider, RetentionSweeper, retention_interval
from .services.logs.destinations import EmbeddedDestinations, ExternalS3
from .services.s3 import ObjectStore, S3Provider
from .services.firehose import Deliverer, FirehoseProvider, FirehoseStore
from .telemetry.log_shipping import LogShipper
from .services.instances import InstanceApi
from .services.operator import OperatorApi
from .services.secretsmanager import SecretsManagerProvider, SecretStore
from .services.sns import SnsBackend, SnsProvider
from .services.iam import Authorizer, IamBackend, IamProvider
from .services.iam.resources import Lookups
from .services.iam.broker_auth import BrokerAuth
from .services.iam.accounts import AccountsApi, IamAccounts
from .control.iam_channel import channel_token
from .services.sts import StsProvider

DB_NAME = "openmsk.db"


@dataclass
class Installation:
    """Everything one `openmsk serve` runs, built once."""
    data_dir: Path
    account_id: str
    store: Store
    keys: KeyStore
    secrets: SecretStore
    client_cas: PrivateCertificateAuthorities
    configurations: ConfigurationStore
    plane: ControlPlane
    metrics: object                       # telemetry.store.MetricStore
    alarms: AlarmBackend | None = None    # CloudWatch alarms (notify through `sns`)
    sns: SnsBackend | None = None
    logs: LogStore | None = None          # CloudWatch Logs (broker logs, issue 11)
    log_sink: EmbeddedDestinations | None = None
    objects: ObjectStore | None = None    # S3 (broker logs and users' own objects)
    firehose: FirehoseStore | None = None  # Firehose delivery streams into `objects`
    iam: IamBackend | None = None          # users, keys, roles, policies; authorizes every request
    admin_key_id: str = ""                 # the installation's own key: an administrator, never evaluated
    log_shipper: LogShipper | None = None  # tails broker logs into log_sink; reports delivery problems
    scaling: ScalingStore | None = None    # application-autoscaling targets/policies (MSK storage auto scaling)
    accounts: IamAccounts | None = None    # every account's IAM (`iam` and other accounts: cross-account access)

    def __post_init__(self) -> None:
        if self.accounts is None and self.iam is not None:
            self.accounts = IamAccounts(self.iam, self.data_dir)

    def providers(self) -> list[Provider]:
        """One line per AWS service served on the endpoint."""
        return [
            KafkaProvider(self.plane, self.configurations, self.secrets, self.client_cas).with_topics(
                TopicAdmin(self.plane), ClusterPolicyStore(self.store)).with_log_destinations(self.log_sink)
            .with_vpc_connections(VpcConnectionStore(self.store)),
            Ec2Provider(self.plane.network, self.plane.clusters),
            CloudWatchProvider(self.metrics, self.alarms),
            SnsProvider(self.sns),
            AcmPcaProvider(self.client_cas),
            KmsProvider(self.keys),
            SecretsManagerProvider(self.secrets),
            LogsProvider(self.logs),
            S3Provider(self.objects),
            FirehoseProvider(self.firehose),
            IamProvider(self.iam, self.accounts),
            StsProvider(self.accounts, self.admin_key_id),
            ApplicationAutoScalingProvider(self.scaling, self.plane.clusters, self.account_id),
        ]

    def authorizer(self) -> Authorizer:
        """The gateway's authorize(ctx) hook (IAM policy evaluation of every request)."""
        return Authorizer(self.accounts, self.admin_key_id, authorization_lookups(self),
                          resource_policy=ClusterPolicyStore(self.store).policy_document)

    def broker_auth(self, admin_secret) -> BrokerAuth:
        """What the brokers' MSK IAM plugin asks (SASL verification, kafka-cluster:* decisions)."""
        return BrokerAuth(self.accounts, self.admin_key_id, admin_secret, self.plane.load_cluster,
                          ClusterPolicyStore(self.store).policy_document, channel_token(self.data_dir))

    def operator_api(self) -> OperatorApi:
        """openmsk's operator API: served on its signed routes, and read by the console (log delivery)."""
        return OperatorApi(self.plane, self.log_shipper.delivery if self.log_shipper else None)

    def internal_routes(self) -> list:
        """openmsk's own signed routes (method, path, fn(region, payload) -> dict)."""
        return (self.operator_api().routes() + InstanceApi(self.plane).routes()
                + AccountsApi(self.accounts).routes())


def authorization_lookups(inst: Installation) -> Lookups:
    """How the authorizer turns a request's names into ARNs and tags (services/iam/resources.py)."""
    def resource_tags(arn: str) -> dict | None:
        if ":cluster/" in arn:
            return (inst.plane.load_cluster(arn) or {}).get("Tags")
        if ":configuration/" in arn:
            return (inst.configurations.get(arn) or {}).get("Tags")
        return None
    return Lookups(kms_key_arn=lambda region, ref: inst.keys.describe(region, ref)["Arn"],
                   secret_arn=lambda region, ref: inst.secrets.describe(region, ref)["ARN"],
                   iam_arn=lambda kind, name: (inst.iam.user(name) if kind == "user" else inst.iam.role(name))["Arn"],
                   resource_tags=resource_tags)


def build(data_dir: Path, account_id: str = config.ACCOUNT_ID, *, admin_key_id: str = "") -> Installation:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / DB_NAME)
    keys = KeyStore(store, data_dir, account_id)
    secrets = SecretStore(store, keys)
    client_cas = PrivateCertificateAuthorities(store, data_dir, account_id)
    plane = ControlPlane(data_dir, account_id, store=store, scram_secrets=secrets, client_cas=client_cas)
    secrets.on_change(plane.secret_changed)          # a new SCRAM password reaches the brokers
    metrics = telemetry.install(plane)
    # Alarms reach SNS only as a Notifier and read clusters only through plane.clusters (issue 12).
    sns = SnsBackend(store, data_dir, lambda: "http://%s:%d" % config.read_endpoint(data_dir))
    alarms = AlarmBackend(store, notifier=sns)
    plane.background_services += [sns.delivery, AlarmEvaluator(metrics, alarms, alarm_interval(),
                                                               clusters=plane.clusters)]
    # Broker logs (issue 11): the shipper sees the destinations only as a BrokerLogSink.
    logs = LogStore(data_dir / "logs.db")
    objects = ObjectStore(data_dir / "s3")
    firehose = FirehoseStore(data_dir / "firehose.db", objects)
    log_sink = EmbeddedDestinations(logs, objects, firehose, ExternalS3.from_data_dir(data_dir))
    log_shipper = LogShipper(data_dir / "log_shipping.db", log_sink)
    plane.background_services += [RetentionSweeper(logs, retention_interval()), Deliverer(firehose), log_shipper]
    # Storage auto scaling: reads KafkaDataLogsDiskUsed, grows through kafka's UpdateBrokerStorage path.
    scaling = ScalingStore(store)
    plane.background_services.append(StorageAutoScaler(scaling, storage_utilization(metrics), plane.clusters,
                                                       StorageScaling(plane).grow))
    if plane.vpc.enabled:      # namespace layout: the brokers' channel to the control plane (MSK IAM), and
        # multi-VPC connections' endpoints in their client VPCs
        plane.background_services += [ControlPlaneChannelRelays(), VpcEndpoints(VpcConnectionStore(store))]
    return Installation(data_dir, account_id, store, keys, secrets, client_cas, ConfigurationStore(store),
                        plane, metrics, alarms, sns, logs, log_sink, objects, firehose,
                        iam=IamBackend(store, data_dir, account_id), admin_key_id=admin_key_id,
                        log_shipper=log_shipper, scaling=scaling)


def local_plane(data_dir: Path, account_id: str = config.ACCOUNT_ID) -> ControlPlane:
    """A control plane on the installation's data, without services or telemetry: for CLI commands that
    act on the data plane while the service is not running (`openmsk down`)."""
    return ControlPlane(Path(data_dir), account_id)
