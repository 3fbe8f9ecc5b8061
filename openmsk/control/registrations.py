"""A dead broker's ZooKeeper registration, removed by the control plane instead of waited out.

A SIGKILLed broker's session lives on in ZooKeeper for `zookeeper.session.timeout.ms` (18 s, MSK's). Until
it expires the controller still counts the broker as alive, so the partitions it led have no leader, and
the broker cannot start again (Kafka refuses to register over its own stale znode). The placement has
seen the process exit, so nothing can act on that session any more: the healer deletes the ephemeral
/brokers/ids/<id> (and /controller if the dead broker was the controller) as the session's expiry would,
the controller fails the broker over at once, and the restarted broker registers without waiting.

KRaft has no such znode: a broker's controller-side session (broker.session.timeout.ms) is fenced by the
controllers themselves; there the healer only waits for the survivors to stop listing the broker.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ..runtime.zookeeper_client import remove_broker_registration
from .layout import ZK_TLS_PORT

if TYPE_CHECKING:
    from .layout import ClusterLayout

log = logging.getLogger(__name__)

# `wait` restores the old behaviour (wait for the session's expiry): the baseline bench/scaling.py
# measures against in the same run. Nothing else sets it.
MODE_ENV = "OPENMSK_DEAD_BROKER_REGISTRATION"


async def release_dead_broker(plane, cluster: dict, layout: "ClusterLayout", broker) -> str | None:
    """Remove the registration of `broker`, whose process the placement saw exit and nothing has started
    since (the caller's precondition: a live broker's registration must never be removed). Returns what
    was done, for the cluster's events; None if there was nothing to remove. A failure is logged and
    returned too: the healer then waits for the session to expire, as before."""
    if layout.kraft or os.environ.get(MODE_ENV) == "wait":
        return None
    # TLS port 2182 on every cluster (ZooKeeper's client-certificate port; in-cluster plaintext clusters
    # also have 2181), with the control plane's installation-CA client certificate.
    ensemble = [(address, ZK_TLS_PORT) for _, address in sorted(layout.zookeeper_ensemble().items())]
    broker_id = broker.config.broker_id
    try:
        removed = await remove_broker_registration(ensemble, broker_id, ssl_context=plane.probe_ssl_context)
    except Exception as exc:            # never fatal: session expiry removes it anyway
        log.warning("cluster %s: could not remove broker %d's ZooKeeper registration (%s); waiting for its "
                    "session to expire", cluster["ClusterName"], broker_id, exc)
        return (f"broker {broker_id}'s ZooKeeper registration could not be removed ({exc}); waiting for its "
                f"session to expire")
    if not removed:
        return None
    return f"removed the dead broker {broker_id}'s ZooKeeper registration ({', '.join(removed)}) instead of " \
           f"waiting for its session to expire"
