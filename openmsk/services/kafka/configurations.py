"""MSK configurations: named, versioned server.properties documents (CreateConfiguration & co)."""
from __future__ import annotations

import base64

from ...api.core import RequestContext, handler
from ...control import model
from ...control.kafka_settings import parse_properties
from ..common import paginate
from .server_properties import check_configurable
from .validation import NAME_PATTERN, bad_request, check_kafka_version, conflict, not_found

MAX_REVISIONS = 50


def _revision_view(rev: dict) -> dict:
    return {"CreationTime": model.parse_iso(rev["CreationTime"]), "Description": rev.get("Description", ""),
            "Revision": rev["Revision"]}


def _configuration_view(conf: dict) -> dict:
    return {"Arn": conf["Arn"], "CreationTime": model.parse_iso(conf["CreationTime"]),
            "Description": conf.get("Description", ""), "KafkaVersions": list(conf.get("KafkaVersions") or []),
            "LatestRevision": _revision_view(conf["Revisions"][-1]), "Name": conf["Name"], "State": conf["State"]}


def check_server_properties(blob: bytes, kafka_versions: list[str] | None = None) -> str:
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("The server properties must be UTF-8 text.", "serverProperties")
    try:
        props = parse_properties(text)
    except ValueError as exc:
        raise bad_request(f"The server properties could not be parsed: {exc}", "serverProperties")
    check_configurable(props, kafka_versions)      # MSK's list of settable keys (server_properties.py)
    return text


class ConfigurationHandlers:
    plane = None           # set by KafkaProvider
    configurations = None  # ConfigurationStore, set by KafkaProvider

    def _configuration(self, ctx: RequestContext, arn: str, parameter: str = "arn") -> dict:
        conf = self.configurations.get(arn)
        if conf is None or conf["Region"] != ctx.region:
            raise not_found(f"The configuration {arn} does not exist.", parameter)
        return conf

    @handler("CreateConfiguration")
    async def create_configuration(self, ctx: RequestContext, request: dict) -> dict:
        name = request["Name"]
        if not NAME_PATTERN.match(name):
            raise bad_request("The configuration name must start with a letter or digit and contain only letters, "
                              "digits and hyphens.", "name")
        for version in request.get("KafkaVersions") or []:
            check_kafka_version(version, "kafkaVersions")
        if any(c["Name"] == name for c in self.configurations.list(ctx.region)):
            raise conflict(f"A configuration named {name} already exists.", "name")
        text = check_server_properties(request["ServerProperties"], request.get("KafkaVersions"))
        now = model.now_iso()
        conf = {"Arn": model.configuration_arn(ctx.region, ctx.account_id, name), "Name": name,
                "Description": request.get("Description", ""), "KafkaVersions": request.get("KafkaVersions") or [],
                "CreationTime": now, "State": "ACTIVE", "Region": ctx.region, "Tags": {},
                "Revisions": [{"Revision": 1, "CreationTime": now, "Description": request.get("Description", ""),
                               "ServerProperties": text}]}
        self.configurations.put(conf)
        view = _configuration_view(conf)
        return {k: view[k] for k in ("Arn", "CreationTime", "LatestRevision", "Name", "State")}

    @handler("UpdateConfiguration")
    async def update_configuration(self, ctx: RequestContext, request: dict) -> dict:
        conf = self._configuration(ctx, request["Arn"])
        if len(conf["Revisions"]) >= MAX_REVISIONS:
            raise bad_request(f"A configuration can have at most {MAX_REVISIONS} revisions.", "arn")
        text = check_server_properties(request["ServerProperties"], conf.get("KafkaVersions"))
        conf["Revisions"].append({"Revision": conf["Revisions"][-1]["Revision"] + 1, "CreationTime": model.now_iso(),
                                  "Description": request.get("Description", ""), "ServerProperties": text})
        self.configurations.put(conf)
        return {"Arn": conf["Arn"], "LatestRevision": _revision_view(conf["Revisions"][-1])}

    @handler("DescribeConfiguration")
    async def describe_configuration(self, ctx: RequestContext, request: dict) -> dict:
        return _configuration_view(self._configuration(ctx, request["Arn"]))

    @handler("DescribeConfigurationRevision")
    async def describe_configuration_revision(self, ctx: RequestContext, request: dict) -> dict:
        conf = self._configuration(ctx, request["Arn"])
        rev = next((r for r in conf["Revisions"] if r["Revision"] == request["Revision"]), None)
        if rev is None:
            raise not_found(f"Revision {request['Revision']} of configuration {conf['Arn']} does not exist.", "revision")
        return {"Arn": conf["Arn"], **_revision_view(rev), "ServerProperties": rev["ServerProperties"].encode()}

    @handler("ListConfigurations")
    async def list_configurations(self, ctx: RequestContext, request: dict) -> dict:
        confs = [_configuration_view(c) for c in self.configurations.list(ctx.region)]
        return paginate(confs, request, "Configurations", bad_token=self._bad_token)

    @handler("ListConfigurationRevisions")
    async def list_configuration_revisions(self, ctx: RequestContext, request: dict) -> dict:
        conf = self._configuration(ctx, request["Arn"])
        return paginate([_revision_view(r) for r in conf["Revisions"]], request, "Revisions", bad_token=self._bad_token)

    @handler("DeleteConfiguration")
    async def delete_configuration(self, ctx: RequestContext, request: dict) -> dict:
        conf = self._configuration(ctx, request["Arn"])
        users = [c["ClusterName"] for c in self.plane.clusters(ctx.region)
                 if (c["Spec"].get("ConfigurationInfo") or {}).get("Arn") == conf["Arn"]]
        if users:
            raise bad_request(f"The configuration is in use by cluster(s) {', '.join(users)} and cannot be deleted.",
                              "arn")
        self.configurations.delete(conf["Arn"])
        return {"Arn": conf["Arn"], "State": "DELETING"}

    def resolve_configuration(self, ctx: RequestContext, info: dict, kafka_version: str) -> str:
        """The server.properties text of a ConfigurationInfo, checked as CreateCluster needs it."""
        conf = self._configuration(ctx, info["Arn"], "configurationInfo")
        rev = next((r for r in conf["Revisions"] if r["Revision"] == info["Revision"]), None)
        if rev is None:
            raise bad_request(f"Revision {info['Revision']} of configuration {conf['Arn']} does not exist.",
                              "configurationInfo")
        if conf.get("KafkaVersions") and kafka_version not in conf["KafkaVersions"]:
            raise bad_request(f"The configuration {conf['Name']} does not support Kafka version {kafka_version}.",
                              "configurationInfo")
        return rev["ServerProperties"]

    @staticmethod
    def _bad_token(token: str):
        return bad_request("The NextToken is not valid.", "nextToken")
