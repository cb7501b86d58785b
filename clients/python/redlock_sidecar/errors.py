"""The helper's exceptions, and the one place that maps gRPC status codes to them."""
from typing import Optional

import grpc


class LockError(Exception):
    """Any failure of a call to the sidecar. `code` is the gRPC status code, when there was one."""

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None):
        super().__init__(message)
        self.code = code


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
    """Fewer than a majority of instances answered, or the sidecar could not be reached. Retry later."""


class LeaseLost(LockError):
    """The lease is no longer held, or is no longer renewed and runs out: stop the protected work."""


class InvalidArgument(LockError, ValueError):
    """The sidecar refused a field; the message names it and its bound."""


def from_rpc_error(error: grpc.RpcError, what: str) -> LockError:
    """Maps a failed call to the exception a caller can act on."""
    code = error.code() if hasattr(error, "code") else None
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    message = f"{what}: {details}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(message, code)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return LeaseLost(message, code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(message, code)
    name = code.name if code is not None else "UNKNOWN"
    return LockError(f"{message} ({name})", code)
