"""The create-cluster form: MSK's choices (Kafka versions, broker types, subnets per zone, encryption,
authentication, configuration, monitoring, tags) turned into one CreateClusterV2 call; the API's
validation errors are shown on the form, which keeps what was typed."""
from __future__ import annotations

from aiohttp import web

from ..api.core import ServiceException
from ..control.kafka_settings import DEFAULT_VERSION
from .clusters import INSTANCE_TYPES, MONITORING
from .html import Markup, button, field, form, select, tag
from .web import BASE, View, cluster_url


async def _choices(view: View) -> dict:
    versions = [v["Version"] for v in (await view.call("kafka", "ListKafkaVersions"))["KafkaVersions"]]
    subnets = (await view.call("ec2", "DescribeSubnets"))["Subnets"]
    configs = (await view.call("kafka", "ListConfigurations"))["Configurations"]
    try:
        cas = [c for c in (await view.call("acm-pca", "ListCertificateAuthorities"))["CertificateAuthorities"]
               if c.get("Status") == "ACTIVE"]
    except ServiceException:
        cas = []
    return {"versions": versions, "subnets": subnets, "configs": configs, "cas": cas}


def _create_form(view: View, choices: dict, values: dict) -> Markup:
    v = values.get
    versions = choices["versions"]
    # The installation's default version (a ZooKeeper-mode line today), as MSK's console preselects its
    # recommended version -- never simply the newest listed (ListKafkaVersions ends with the .kraft lines).
    default_version = DEFAULT_VERSION if DEFAULT_VERSION in versions else (versions or [""])[-1]
    version_choices = [(x, f"{x} (recommended)" if x == default_version else x) for x in versions]
    subnets = sorted(choices["subnets"], key=lambda s: s["AvailabilityZone"])
    chosen = set(values.get("subnets") or [s["SubnetId"] for s in subnets[:3]])
    subnet_boxes = [tag("label", tag("input", type="checkbox", name="subnets", value=s["SubnetId"],
                                     checked=s["SubnetId"] in chosen),
                        f" {s['SubnetId']} — {s['AvailabilityZone']} ({s.get('CidrBlock', '')})")
                    for s in subnets]
    auth = set(values.get("auth") or ["none"])
    auth_boxes = [tag("label", tag("input", type="checkbox", name="auth", value=k, checked=k in auth), f" {label}")
                  for k, label in (("none", "Unauthenticated"), ("iam", "IAM role-based"),
                                   ("scram", "SASL/SCRAM (Secrets Manager)"), ("tls", "TLS client certificates"))]
    configs = [("", "MSK default configuration")] + [
        (f"{c['Arn']}|{(c.get('LatestRevision') or {}).get('Revision', 1)}",
         f"{c['Name']} (revision {(c.get('LatestRevision') or {}).get('Revision', 1)})") for c in choices["configs"]]
    return form(
        f"{BASE}/create", view.csrf,
        tag("fieldset", tag("legend", "Cluster"),
            field("Cluster name", "name", value=v("name", ""), required=True, pattern="[0-9A-Za-z][0-9A-Za-z-]{0,63}",
                  help="1-64 characters: letters, digits and hyphens, starting with a letter or digit."),
            select("Apache Kafka version", "version", version_choices, v("version", default_version),
                   help="Versions ending in .kraft run KRaft controllers instead of ZooKeeper."),
            select("Cluster configuration", "configuration", configs, v("configuration", ""))),
        tag("fieldset", tag("legend", "Brokers"),
            select("Broker type", "instance_type", INSTANCE_TYPES, v("instance_type", "kafka.m5.large")),
            tag("div", tag("span", "Subnets (one per availability zone; 2 or 3 zones)", class_="label"),
                *subnet_boxes, class_="field checks", role="group"),
            field("Brokers per zone", "per_zone", type="number", value=v("per_zone", "1"), min="1", max="30",
                  required=True),
            field("EBS storage per broker (GiB)", "storage", type="number", value=v("storage", "100"), min="1",
                  max="16384", required=True)),
        tag("fieldset", tag("legend", "Security"),
            select("Encryption between clients and brokers", "client_broker",
                   [("TLS", "TLS encryption"), ("TLS_PLAINTEXT", "TLS and plaintext"), ("PLAINTEXT", "Plaintext")],
                   v("client_broker", "TLS")),
            tag("label", tag("input", type="checkbox", name="in_cluster", value="1",
                             checked=v("in_cluster", "1") == "1"), " Encrypt data between brokers (TLS)"),
            tag("div", tag("span", "Client authentication", class_="label"), *auth_boxes, class_="field checks",
                role="group"),
            select("Private CA for TLS client certificates", "ca",
                   [("", "none")] + [(c["Arn"], c["Arn"].rsplit("/", 1)[-1]) for c in choices["cas"]], v("ca", ""))),
        tag("fieldset", tag("legend", "Monitoring and tags"),
            select("Enhanced monitoring", "monitoring", MONITORING, v("monitoring", "DEFAULT")),
            tag("label", tag("input", type="checkbox", name="jmx", value="1", checked=v("jmx") == "1"),
                " Open monitoring: JMX exporter (11001)"),
            tag("label", tag("input", type="checkbox", name="node", value="1", checked=v("node") == "1"),
                " Open monitoring: node exporter (11002)"),
            tag("div", tag("label", "Tags (one key=value per line)", for_="f-tags"),
                tag("textarea", v("tags", ""), name="tags", id="f-tags", rows="3"), class_="field")),
        button("Create cluster", kind="primary"), class_="create", novalidate=None)


async def create_page(view: View) -> web.Response:
    return view.page("Create cluster", _create_form(view, await _choices(view), {}), crumbs=["Create cluster"])


def _request_from_form(values: dict) -> dict:
    subnets = values.get("subnets") or []
    per_zone = int(values.get("per_zone") or 0)
    auth = set(values.get("auth") or [])
    client_auth = {"Unauthenticated": {"Enabled": "none" in auth},
                   "Sasl": {"Scram": {"Enabled": "scram" in auth}, "Iam": {"Enabled": "iam" in auth}}}
    if "tls" in auth:
        client_auth["Tls"] = {"Enabled": True,
                              "CertificateAuthorityArnList": [values["ca"]] if values.get("ca") else []}
    spec = {
        "KafkaVersion": values.get("version", ""),
        "NumberOfBrokerNodes": per_zone * len(subnets),
        "BrokerNodeGroupInfo": {"InstanceType": values.get("instance_type", ""), "ClientSubnets": subnets,
                                "StorageInfo": {"EbsStorageInfo": {"VolumeSize": int(values.get("storage") or 0)}}},
        "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": values.get("client_broker", "TLS"),
                                                   "InCluster": values.get("in_cluster") == "1"}},
        "ClientAuthentication": client_auth,
        "EnhancedMonitoring": values.get("monitoring", "DEFAULT"),
    }
    if values.get("jmx") == "1" or values.get("node") == "1":
        spec["OpenMonitoring"] = {"Prometheus": {"JmxExporter": {"EnabledInBroker": values.get("jmx") == "1"},
                                                 "NodeExporter": {"EnabledInBroker": values.get("node") == "1"}}}
    if values.get("configuration"):
        arn, _, revision = values["configuration"].partition("|")
        spec["ConfigurationInfo"] = {"Arn": arn, "Revision": int(revision or 1)}
    tags = {}
    for line in (values.get("tags") or "").splitlines():
        key, sep, value = line.partition("=")
        if key.strip():
            tags[key.strip()] = value.strip()
    request = {"ClusterName": values.get("name", "").strip(), "Provisioned": spec}
    if tags:
        request["Tags"] = tags
    return request


async def create_action(view: View) -> web.Response:
    form_multi = view.form
    values = {k: form_multi.get(k) for k in form_multi.keys()}
    values["subnets"] = form_multi.getall("subnets", [])
    values["auth"] = form_multi.getall("auth", [])
    try:
        request = _request_from_form(values)
        result = await view.call("kafka", "CreateClusterV2", **request)
    except (ServiceException, ValueError) as exc:
        message = f"{exc.code}: {exc.message}" if isinstance(exc, ServiceException) else f"Invalid number: {exc}"
        view.session.say("error", message)
        return view.page("Create cluster", _create_form(view, await _choices(view), values), crumbs=["Create cluster"],
                         status=400)
    view.redirect(cluster_url(result), "ok", f"Creating cluster {result['ClusterName']}.")


