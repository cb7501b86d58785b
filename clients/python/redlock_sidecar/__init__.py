"""A small Python helper for the redlock sidecar's lock.v1 API.

    from redlock_sidecar import LockClient

    client = LockClient("127.0.0.1:50051")
    with client.hold("reports", ttl=30) as lease:
        make_report(lease.fencing_token, stop=lease.lost)

The lock.v1 stubs are generated, not committed: run clients/python/generate.sh.
"""
from .client import LockClient
from .errors import ErrorDetails, FieldViolation, InvalidArgument, LeaseLost, LockError, NotAcquired, Unavailable
from .hold import HeldLease
from .lease import Lease

__all__ = [
    "LockClient",
    "Lease",
    "HeldLease",
    "LockError",
    "NotAcquired",
    "Unavailable",
    "LeaseLost",
    "InvalidArgument",
    "FieldViolation",
    "ErrorDetails",
]
