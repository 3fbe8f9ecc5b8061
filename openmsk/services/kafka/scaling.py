"""UpdateBrokerCount, UpdateRebalancing and RebootBroker, with MSK's rules.

Only validation and desired state here (control/scaling.py and control/rebalance.py do the work in the
reconciler). MSK's rules: an operation needs an ACTIVE cluster and its CurrentVersion; one operation
at a time (ConflictException while one runs); the broker count stays a multiple of the zones; a
scale-in removes one broker per zone per operation and only brokers holding no partitions, unless
rebalancing is ACTIVE, in which case their replicas are moved off first (MSK's intelligent
rebalancing, here for every cluster). RebootBroker takes exactly one broker id.
"""
from __future__ import annotations

from ...api.core import RequestContext, ServiceException, handler
from ...control import model
from ...control.scaling import add_brokers, choose_leaving, describe_blocked
from ...control.topic_admin import AdminUnavailable, KafkaAdminError
from .broker_changes import require_updatable
from .validation import bad_request

INCREASE, DECREASE = "INCREASE_BROKER_COUNT", "DECREASE_BROKER_COUNT"
UPDATE_REBALANCING, REBOOT_NODE = "UPDATE_REBALANCING", "REBOOT_NODE"
BASE_STEPS = list(model.CREATE_STEPS)       # the reconciler passes these on every operation


def rebalancing_status(cluster: dict) -> str:
    return ((cluster["Spec"].get("Rebalancing") or {}).get("Status")) or "PAUSED"


class ScalingHandlers:
    plane = None         # set by KafkaProvider
    topic_admin = None   # set by TopicHandlers.with_topics

    def _updatable(self, cluster: dict, current_version: str | None) -> None:
        """MSK's preconditions (broker_changes.require_updatable); RebootBroker has no CurrentVersion."""
        require_updatable(cluster, cluster["CurrentVersion"] if current_version is None else current_version)

    async def _partitions(self, cluster: dict) -> list[tuple[str, int, list[int]]]:
        if self.topic_admin is None:
            raise ServiceException("ServiceUnavailableException", "The cluster's brokers cannot be asked now.", 503)
        try:
            listing = await self.topic_admin.list_topics(cluster)
        except (AdminUnavailable, KafkaAdminError) as exc:
            raise ServiceException("ServiceUnavailableException",
                                   f"The partitions of the brokers could not be read: {exc}. Try again.", 503)
        return [(topic, p, list(replicas)) for topic, parts in listing["topics"].items()
                for p, _leader, replicas, _isr in parts]

    @handler("UpdateBrokerCount")
    async def update_broker_count(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        self._updatable(cluster, request["CurrentVersion"])
        target, current = request["TargetNumberOfBrokerNodes"], len(cluster["Brokers"])
        zones = len(cluster["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"])
        if target == current:
            raise bad_request(f"The cluster already has {current} broker nodes. Specify a different number.",
                              "targetNumberOfBrokerNodes")
        if target % zones:
            raise bad_request("The number of broker nodes must be a multiple of Availability Zones in the Client "
                              "Subnets parameter.", "targetNumberOfBrokerNodes")
        source = {"NumberOfBrokerNodes": current}
        drain = rebalancing_status(cluster) == "ACTIVE"
        if target > current:
            subnets = {s: self.plane.network.subnet(ctx.region, s) for s in cluster["Spec"]["BrokerNodeGroupInfo"]["ClientSubnets"]}
            try:
                created = add_brokers(cluster, subnets, target, self.plane.address_allocator(ctx.region))
            except ValueError as exc:
                raise bad_request(f"The cluster cannot grow to {target} brokers: {getattr(exc, 'message', exc)}.",
                                  "targetNumberOfBrokerNodes")
            kind, info = INCREASE, {"CreatedBrokerIds": [float(b) for b in created]}
            steps = [*BASE_STEPS, *([model.REBALANCE_PARTITIONS] if drain else [])]
        else:
            if current - target != zones:
                raise bad_request(f"You can remove only one broker per Availability Zone in a single operation: from "
                                  f"{current} brokers in {zones} zones, the target must be {current - zones}.",
                                  "targetNumberOfBrokerNodes")
            leaving, blocked = choose_leaving(cluster, await self._partitions(cluster), drain)
            if blocked:
                raise bad_request("Brokers can be removed only when they hold no partitions; " + describe_blocked(blocked)
                                  + ". Move these partitions to other brokers (kafka-reassign-partitions.sh) or set "
                                    "Rebalancing to ACTIVE (UpdateRebalancing), then try again.",
                                  "targetNumberOfBrokerNodes")
            for b in cluster["Brokers"]:
                if b["BrokerId"] in leaving:
                    b["Leaving"] = True
            kind, info = DECREASE, {"DeletedBrokerIds": [float(b) for b in leaving]}
            steps = [*BASE_STEPS, *([model.REBALANCE_PARTITIONS] if drain else []), model.REMOVE_BROKERS]
        cluster["Spec"]["NumberOfBrokerNodes"] = target
        op = self.plane.start_update(cluster, kind, {"NumberOfBrokerNodes": target, "BrokerCountUpdateInfo": info},
                                     source, steps=steps)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}

    @handler("UpdateRebalancing")
    async def update_rebalancing(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        self._updatable(cluster, request["CurrentVersion"])
        status = (request.get("Rebalancing") or {}).get("Status")
        if status not in ("ACTIVE", "PAUSED"):
            raise bad_request("Rebalancing.Status must be ACTIVE or PAUSED.", "rebalancing")
        source = {"Rebalancing": {"Status": rebalancing_status(cluster)}}
        cluster["Spec"]["Rebalancing"] = {"Status": status}
        # ACTIVE balances the cluster now (e.g. after a scale-out made while it was PAUSED).
        steps = [*BASE_STEPS, *([model.REBALANCE_PARTITIONS] if status == "ACTIVE" else [])]
        op = self.plane.start_update(cluster, UPDATE_REBALANCING, {"Rebalancing": {"Status": status}}, source,
                                     steps=steps)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}

    @handler("RebootBroker")
    async def reboot_broker(self, ctx: RequestContext, request: dict) -> dict:
        cluster = self._cluster(ctx, request["ClusterArn"])
        ids = request["BrokerIds"]
        if len(ids) != 1:
            raise bad_request("The reboot-broker operation supports rebooting one broker at a time: specify exactly "
                              "one broker ID.", "brokerIds")
        try:
            broker_id = int(float(ids[0]))
        except ValueError:
            raise bad_request(f"The broker ID {ids[0]} is not a number.", "brokerIds")
        if broker_id not in {b["BrokerId"] for b in cluster["Brokers"]}:
            raise bad_request(f"The broker ID {ids[0]} does not exist in the cluster.", "brokerIds")
        self._updatable(cluster, None)
        cluster["RebootBrokerIds"] = [broker_id]
        op = self.plane.start_update(cluster, REBOOT_NODE, {}, {}, steps=[*BASE_STEPS, model.REBOOT_BROKER],
                                     state=model.REBOOTING_BROKER)
        return {"ClusterArn": cluster["ClusterArn"], "ClusterOperationArn": op["OperationArn"]}
