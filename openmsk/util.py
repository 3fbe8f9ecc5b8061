"""Small helpers with no openmsk imports, shared by every layer (a leaf in the import graph)."""
from __future__ import annotations

import contextvars
import datetime as dt
import os
import tempfile
from pathlib import Path


#: The request ID (x-amzn-RequestId) of the API call being served, set by the wire layer for the call's
#: task: an operation the call starts records it as its ClientRequestId, as MSK does.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_request_id", default=None)


def write_secret(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600, atomically: a reader sees the old file or the whole new
    one, never a partial key (temp file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def from_epoch(value: float | None) -> dt.datetime | None:
    """Epoch seconds (as some stored documents keep them) -> an aware UTC datetime."""
    return None if value is None else dt.datetime.fromtimestamp(value, dt.timezone.utc)
