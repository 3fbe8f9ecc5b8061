"""Start attempts of a node that must come back (a roll's restart, a heal's restart): why each start
failed, and whether another start may help.

A start can fail for a reason of the node's own (its configuration, its stored data: Kafka refuses a
stored broker id that does not match) or for one a loaded host causes: the broker missed its ZooKeeper
connection timeout (MSK's 18 s; at load 50+ a cold JVM's TLS handshake alone can take that long), or
the registration of its previous session had not expired yet. The first kind uses up the caller's
attempts and is what gets reported; the second is retried up to TRANSIENT_LIMIT times more, so a busy
host neither fails an update nor keeps a cluster HEALING, and the reason reported stays the node's own.
"""
from __future__ import annotations

TRANSIENT_START_ERRORS = ("ZooKeeperClientTimeoutException", "NodeExistsException")
TRANSIENT_LIMIT = 8


def root_cause(errors: list[str]) -> str | None:
    """The first error that carries its exception (the root cause of a failed start, not the noise of
    the shutdown that follows it), else the last error."""
    for line in errors:
        if " -- " in line:
            return line.split("] ", 1)[-1]
    return errors[-1].split("] ", 1)[-1] if errors else None


def is_transient(reason: str) -> bool:
    return any(marker in reason for marker in TRANSIENT_START_ERRORS)


class StartAttempts:
    """The failed starts of one node. `failed()` records one (its reason read from the node's log: only
    the error lines this start added) and says whether another start is allowed."""

    def __init__(self, node, limit: int, transient_limit: int = TRANSIENT_LIMIT, *, exited: bool = False) -> None:
        """Made before the node's start (errors already logged are not its own), or once it `exited`
        (a node this pass did not start: the errors it logged last are its reason)."""
        self.node = node
        self.limit = limit                       # failures of the node's own kind
        self.transient_limit = transient_limit   # and failures a loaded host causes, on top
        self.reasons: list[tuple[str, bool]] = []
        self._seen = set() if exited else set(node.failure_reason())

    @property
    def count(self) -> int:
        return len(self.reasons)

    def failed(self, exit_code) -> bool:
        errors = [line for line in self.node.failure_reason() if line not in self._seen]
        self._seen.update(errors)
        reason = root_cause(errors) or f"process exited with code {exit_code}"
        self.reasons.append((reason, is_transient(reason)))
        own = sum(1 for _, transient in self.reasons if not transient)
        transient = len(self.reasons) - own
        return own < self.limit and transient < self.transient_limit

    @property
    def last(self) -> str:
        return self.reasons[-1][0] if self.reasons else ""

    def summary(self) -> str:
        """The node's own reason (its latest), else the latest transient one; with the counts."""
        own = [reason for reason, transient in self.reasons if not transient]
        transient = [reason for reason, transient in self.reasons if transient]
        detail = own[-1] if own else transient[-1] if transient else "no reason logged"
        counts = f"{self.count} attempts"
        if own and transient:
            counts += f", {len(transient)} of them failed only because the host was slow ({transient[-1]})"
        return f"({counts}): {detail}"
