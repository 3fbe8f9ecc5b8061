"""awscli v1 plugin: `aws msk describe-cluster`, the command the runbook seed uses.

The real AWS CLI has no `msk` command (the service is `aws kafka`), and real DescribeCluster shows
neither bootstrap broker strings nor nodes (anchors.md §0). This plugin adds one customization,
`aws msk describe-cluster --cluster-arn ARN`, that calls the real MSK API three times -
DescribeCluster, GetBootstrapBrokers and ListNodes - and prints one document:

    {"ClusterInfo": {... DescribeCluster, unchanged ...},
     "BootstrapBrokerStringTls": "...", ... (every GetBootstrapBrokers member, once ACTIVE),
     "BrokerNodes": [... ListNodes' BrokerNodeInfo + NodeARN/InstanceType ...],
     "ZookeeperNodes": [{"ZookeeperId": 1, "Endpoint": "...", "Port": 2181, "TlsPort": 2182}, ...]}

It works against real MSK too (it is only API calls); `aws kafka ...` is untouched.

Activation without touching ~/.aws: `scripts/install` replaces the venv's `bin/aws` with a wrapper
(`main` below) that adds this module to awscli's built-in plugin list before running the CLI. A
user who wants it in another awscli v1 on the same Python can add to their AWS config instead:
    [plugins]
    openmsk = openmsk.awscli_plugin
"""
from __future__ import annotations

import sys

PLUGIN_MODULE = "openmsk.awscli_plugin"


def awscli_initialize(cli) -> None:
    cli.register("building-command-table.main", _add_msk_command)


def _add_msk_command(command_table, session, **kwargs) -> None:
    command_table.setdefault("msk", _msk_command_class()(session))


def zookeeper_nodes(cluster_info: dict, list_nodes: list[dict]) -> list[dict]:
    """ZooKeeper nodes from ListNodes when it reports them, else from the connect strings."""
    from_api = [n["ZookeeperNodeInfo"] for n in list_nodes if n.get("ZookeeperNodeInfo")]
    if from_api:
        return from_api
    plain = [h for h in (cluster_info.get("ZookeeperConnectString") or "").split(",") if h]
    tls = [h for h in (cluster_info.get("ZookeeperConnectStringTls") or "").split(",") if h]
    nodes = []
    for i, hostport in enumerate(plain or tls, start=1):
        host, port = hostport.rsplit(":", 1)
        node = {"ZookeeperId": i, "Endpoint": host}
        if plain:
            node["Port"] = int(port)
        tls_port = next((int(t.rsplit(":", 1)[1]) for t in tls if t.rsplit(":", 1)[0] == host), None)
        if tls_port:
            node["TlsPort"] = tls_port
        nodes.append(node)
    return nodes


def broker_nodes(list_nodes: list[dict]) -> list[dict]:
    nodes = []
    for n in list_nodes:
        info = n.get("BrokerNodeInfo")
        if info:
            node = dict(info)
            if isinstance(node.get("BrokerId"), float) and node["BrokerId"].is_integer():
                node["BrokerId"] = int(node["BrokerId"])
            node.update(NodeARN=n.get("NodeARN"), InstanceType=n.get("InstanceType"))
            nodes.append(node)
    return sorted(nodes, key=lambda n: n.get("BrokerId", 0))


def combined_describe(client, arn: str) -> dict:
    """DescribeCluster + GetBootstrapBrokers + ListNodes as one document (see module docstring)."""
    info = client.describe_cluster(ClusterArn=arn)["ClusterInfo"]
    doc = {"ClusterInfo": info}
    try:
        brokers = client.get_bootstrap_brokers(ClusterArn=arn)
    except client.exceptions.BadRequestException:
        brokers = {}                        # still CREATING: MSK has no bootstrap string yet
    doc.update({k: v for k, v in brokers.items() if k.startswith("BootstrapBroker")})
    listed = []
    for page in client.get_paginator("list_nodes").paginate(ClusterArn=arn):
        listed += page.get("NodeInfoList", [])
    doc["BrokerNodes"] = broker_nodes(listed)
    doc["ZookeeperNodes"] = zookeeper_nodes(info, listed)
    return doc


def _msk_command_class():
    # awscli is imported only when the CLI loads the plugin, so `openmsk` itself does not need it.
    from awscli.customizations.commands import BasicCommand
    from awscli.customizations.utils import create_client_from_parsed_globals
    from awscli.formatter import get_formatter

    class MskDescribeCluster(BasicCommand):
        NAME = "describe-cluster"
        DESCRIPTION = (
            "Describe an MSK cluster together with its connection details: the DescribeCluster output "
            "(ClusterInfo), every bootstrap broker string of GetBootstrapBrokers (BootstrapBrokerString, "
            "BootstrapBrokerStringTls, ...), the broker nodes of ListNodes and the ZooKeeper nodes. "
            "Added by openmsk; the real AWS CLI calls the service 'kafka' (aws kafka describe-cluster).")
        ARG_TABLE = [{"name": "cluster-arn", "required": True,
                      "help_text": "The Amazon Resource Name (ARN) that uniquely identifies the cluster."}]

        def _run_main(self, parsed_args, parsed_globals):
            client = create_client_from_parsed_globals(self._session, "kafka", parsed_globals)
            doc = combined_describe(client, parsed_args.cluster_arn)
            output = parsed_globals.output or self._session.get_config_variable("output")
            formatter = get_formatter(output, parsed_globals)
            formatter.query = parsed_globals.query
            formatter(self.NAME, doc)
            return 0

    class MskCommand(BasicCommand):
        NAME = "msk"
        DESCRIPTION = ("Amazon MSK shortcuts added by openmsk (the service's real CLI name is 'kafka'; "
                       "every MSK API operation is under 'aws kafka').")
        SUBCOMMANDS = [{"name": "describe-cluster", "command_class": MskDescribeCluster}]

        def _run_main(self, parsed_args, parsed_globals):
            self._raise_usage_error()

    return MskCommand


def main() -> int:
    """The venv's `aws`: the stock awscli v1 entry point with this plugin among the built-ins."""
    import awscli.clidriver
    import awscli.plugin
    awscli.plugin.BUILTIN_PLUGINS.setdefault("openmsk", PLUGIN_MODULE)
    return awscli.clidriver.main()


if __name__ == "__main__":
    sys.exit(main())
