"""UpdateMonitoring (EnhancedMonitoring level, Open Monitoring exporters, broker log delivery settings).

As on MSK: only an ACTIVE cluster, only with its CurrentVersion; it becomes UPDATING under an
UPDATE_MONITORING operation with a new CurrentVersion. A new EnhancedMonitoring level only changes what
the collector publishes; turning the JMX exporter on or off moves the agent's port (11001 <-> internal),
a JVM option, so the brokers are restarted one at a time by the control plane's rolling update.
"""
from __future__ import annotations

import copy

from ...api.core import RequestContext, handler
from ...control import model
from . import views
from .validation import bad_request, check_logging

MUTABLE = ("EnhancedMonitoring", "OpenMonitoring", "LoggingInfo")


def _monitoring_info(cluster: dict) -> dict:
    info = {"EnhancedMonitoring": cluster["Spec"].get("EnhancedMonitoring", "DEFAULT"),
            "OpenMonitoring": views.open_monitoring(cluster)}
    if cluster["Spec"].get("LoggingInfo"):
        info["LoggingInfo"] = copy.deepcopy(cluster["Spec"]["LoggingInfo"])
    return info


class MonitoringHandlers:
    log_destinations = None     # telemetry.log_shipping.BrokerLogSink: do broker-log destinations exist?

    def with_log_destinations(self, destinations):
        """Hand the provider the broker-log sink (destination checks); called by the composition root."""
        self.log_destinations = destinations
        return self

    @handler("UpdateMonitoring")
    async def update_monitoring(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        if cluster["State"] != model.ACTIVE:
            raise bad_request(f"The cluster {cluster['ClusterArn']} is in {cluster['State']} state. You can update "
                              "monitoring only when the cluster is ACTIVE.", "clusterArn")
        if request["CurrentVersion"] != cluster["CurrentVersion"]:
            raise bad_request(f"The current version {request['CurrentVersion']} does not match the cluster's "
                              f"version {cluster['CurrentVersion']}.", "currentVersion")
        prom = (request.get("OpenMonitoring") or {}).get("Prometheus") if "OpenMonitoring" in request else None
        if "OpenMonitoring" in request and prom is None:
            raise bad_request("Specify Prometheus in OpenMonitoring.", "openMonitoring")
        if not any(k in request for k in MUTABLE):
            raise bad_request("Specify at least one of EnhancedMonitoring, OpenMonitoring and LoggingInfo.",
                              "enhancedMonitoring")
        if "LoggingInfo" in request:
            check_logging(request["LoggingInfo"], self.log_destinations, ctx.region)
        source = _monitoring_info(cluster)
        for key in MUTABLE:
            if key in request:
                cluster["Spec"][key] = copy.deepcopy(request[key])
        target = _monitoring_info(cluster)
        op = self.plane.start_update(cluster, "UPDATE_MONITORING", target, source)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}
