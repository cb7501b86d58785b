"""Leases as plain Python values, and conversions from and to protobuf."""
import datetime
import time
from dataclasses import dataclass, field
from typing import Optional

from google.protobuf import duration_pb2


@dataclass(frozen=True)
class Lease:
    """Proof of holding the lock `name` until `expires_at`."""

    name: str
    # The only proof of ownership: kept out of repr so it is not logged by accident.
    lease_id: str = field(repr=False)
    # Pass it to the protected resource, which should refuse tokens lower than the highest it saw.
    fencing_token: int
    # Conservative end of validity, timezone-aware UTC. Stop the work before it.
    expires_at: datetime.datetime
    # TTL in seconds the lease was granted or renewed with.
    ttl: float

    def remaining(self) -> float:
        """Seconds left until expires_at by this host's clock (negative once past)."""
        return self.expires_at.timestamp() - time.time()


def lease_from_message(message) -> Lease:
    return Lease(
        name=message.name,
        lease_id=message.lease_id,
        fencing_token=message.fencing_token,
        expires_at=message.expires_at.ToDatetime(tzinfo=datetime.timezone.utc),
        ttl=seconds_of(message.ttl),
    )


def duration(seconds: Optional[float]) -> Optional[duration_pb2.Duration]:
    """A protobuf Duration, or None (the field stays unset: the sidecar's default)."""
    if seconds is None:
        return None
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    value = duration_pb2.Duration()
    value.FromNanoseconds(round(seconds * 1e9))
    return value


def seconds_of(value: duration_pb2.Duration) -> float:
    return value.seconds + value.nanos / 1e9
