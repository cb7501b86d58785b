"""The helper's exceptions, and the one place that maps gRPC status codes to them.

Every non-OK status of the sidecar also carries google.rpc.ErrorInfo (a stable
`reason` in the domain "lock.v1", and `metadata` such as the lock name or the
setting whose limit was reached) and, for INVALID_ARGUMENT, google.rpc.BadRequest
(the fields at fault), in the grpc-status-details-bin trailer as a
google.rpc.Status. from_rpc_error decodes them onto the exception.
"""
import logging
from types import MappingProxyType
from typing import Dict, Mapping, NamedTuple, Optional, Tuple

import grpc
from google.protobuf.message import DecodeError

from ._stubs import error_details_pb2, status_pb2

log = logging.getLogger("redlock_sidecar")

# The trailer gRPC servers send rich error details in.
DETAILS_KEY = "grpc-status-details-bin"
# Where the sidecar's ErrorInfo reasons are defined.
ERROR_DOMAIN = "lock.v1"


class FieldViolation(NamedTuple):
    """One invalid request field (google.rpc.BadRequest.FieldViolation)."""

    field: str
    description: str


class ErrorDetails(NamedTuple):
    """What the grpc-status-details-bin trailer of a failed call said; empty when it had none."""

    reason: Optional[str] = None
    domain: Optional[str] = None
    metadata: Mapping[str, str] = MappingProxyType({})
    field_violations: Tuple[FieldViolation, ...] = ()


class LockError(Exception):
    """Any failure of a call to the sidecar. `code` is the gRPC status code, when there was one.

    From the sidecar's status details: `reason` (ErrorInfo reason, e.g.
    "LEASE_NOT_HELD", "QUORUM_UNAVAILABLE"; None when the status carried no
    details, as when the sidecar could not be reached), `domain` ("lock.v1"),
    `metadata` (a dict, e.g. {"lock": name} or {"setting": "LOCK_MAX_WAITERS"})
    and `field_violations` (FieldViolation(field, description) tuples, for
    INVALID_ARGUMENT).
    """

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None, details: Optional[ErrorDetails] = None):
        super().__init__(message)
        self.code = code
        details = details or ErrorDetails()
        self.reason: Optional[str] = details.reason
        self.domain: Optional[str] = details.domain
        self.metadata: Dict[str, str] = dict(details.metadata)
        self.field_violations: Tuple[FieldViolation, ...] = tuple(details.field_violations)


class NotAcquired(LockError):
    """Someone else held the lock for the whole wait. Contention, not a fault.

    `retry_after` is the holder's remaining TTL in seconds as last seen, or None when unknown.
    """

    def __init__(self, name: str, retry_after: Optional[float]):
        hint = f"; retry in {retry_after:.3f} s" if retry_after is not None else ""
        super().__init__(f"lock {name!r} is held by someone else{hint}")
        self.name = name
        self.retry_after = retry_after


class Unavailable(LockError):
    """Fewer than a majority of instances answered, or the sidecar could not be reached. Retry later.

    `reason` tells them apart: "QUORUM_UNAVAILABLE" or "SHUTTING_DOWN" from the
    sidecar, None when no sidecar answered.
    """


class LeaseLost(LockError):
    """The lease is no longer held, or is no longer renewed and runs out: stop the protected work."""


class InvalidArgument(LockError, ValueError):
    """The sidecar refused a field; the message names it and its bound, `field` names it alone."""

    @property
    def field(self) -> Optional[str]:
        """The first field at fault (e.g. "ttl", "name", "lease_id"), or None without details."""
        return self.field_violations[0].field if self.field_violations else None


def from_rpc_error(error: grpc.RpcError, what: str) -> LockError:
    """Maps a failed call to the exception a caller can act on."""
    code = error.code() if hasattr(error, "code") else None
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    message = f"{what}: {details}"
    rich = status_details(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(message, code, rich)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return LeaseLost(message, code, rich)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(message, code, rich)
    name = code.name if code is not None else "UNKNOWN"
    return LockError(f"{message} ({name})", code, rich)


_warned_no_classes = False


def status_details(error: grpc.RpcError) -> ErrorDetails:
    """Decodes ErrorInfo and BadRequest from the error's grpc-status-details-bin trailer.

    Never raises: a missing or unreadable trailer gives empty ErrorDetails, so
    the details never hide the failure itself.
    """
    global _warned_no_classes
    raw = _trailer(error, DETAILS_KEY)
    if raw is None:
        return ErrorDetails()
    if status_pb2 is None or error_details_pb2 is None:
        if not _warned_no_classes:
            _warned_no_classes = True
            log.warning("the google.rpc classes are missing: error details (reason, metadata, "
                        "field violations) are not decoded; run clients/python/generate.sh again")
        return ErrorDetails()
    try:
        status = status_pb2.Status.FromString(raw)
        reason = domain = None
        metadata: Mapping[str, str] = MappingProxyType({})
        violations = []
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    except (DecodeError, ValueError, TypeError) as problem:
        log.debug("unreadable %s trailer: %s", DETAILS_KEY, problem)
        return ErrorDetails()
    return ErrorDetails(reason or None, domain or None, metadata, tuple(violations))


def _trailer(error: grpc.RpcError, key: str) -> Optional[bytes]:
    trailing = getattr(error, "trailing_metadata", None)
    if not callable(trailing):
        return None
    try:
        pairs = trailing() or ()
    except Exception:  # an RpcError that is not a call: no trailers
        return None
    for name, value in pairs:
        if name == key and isinstance(value, bytes):
            return value
    return None
