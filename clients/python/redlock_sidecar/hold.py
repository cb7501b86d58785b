"""A lease kept alive by an open Hold call."""
import logging
import threading
from typing import Callable, Optional

import grpc

from .errors import LeaseLost, LockError, status_details
from .lease import Lease, lease_from_message

log = logging.getLogger("redlock_sidecar")

OnLost = Callable[[LeaseLost], None]
ReleaseCall = Callable[[Lease], bool]


class HeldLease:
    """The lease of a Hold call, renewed by the sidecar while the call stays open.

    Use it as a context manager (LockClient.hold does): leaving the block
    releases the lease and ends the call, unless expire_on_close was set
    (then the call is cancelled and the lease runs out).

    Any end of the call that this object did not cause means the lease is
    lost or no longer renewed: then `error` is a LeaseLost, `lost` is set and
    `on_lost` is called (from a background thread). Leaving the block after a
    loss raises that LeaseLost, unless the block raised an exception itself.
    Its `reason` is the sidecar's (e.g. "LEASE_NOT_HELD"), None when the call
    ended without one (a dropped connection).
    """

    def __init__(self, call, first: Lease, on_lost: Optional[OnLost] = None, release: Optional[ReleaseCall] = None):
        self._call = call
        self._lease = first
        self._on_lost = on_lost
        self._release = release
        self._closing = False
        self.lost = threading.Event()
        self.error: Optional[LeaseLost] = None
        # Renewal messages received after the first one.
        self.renewals = 0
        self._watcher = threading.Thread(target=self._watch, name=f"redlock-hold:{first.name}", daemon=True)
        self._watcher.start()

    @property
    def lease(self) -> Lease:
        """The lease as of the latest message (expires_at moves with each renewal)."""
        return self._lease

    @property
    def name(self) -> str:
        return self._lease.name

    @property
    def lease_id(self) -> str:
        return self._lease.lease_id

    @property
    def fencing_token(self) -> int:
        return self._lease.fencing_token

    @property
    def expires_at(self):
        return self._lease.expires_at

    def check(self) -> None:
        """Raises LeaseLost if the lease was lost: call it between steps of long work."""
        if self.lost.is_set():
            raise self.error

    def release(self, timeout: float = 5.0) -> None:
        """Ends the hold now. Idempotent; leaving the with block does the same."""
        if self._closing:
            return
        self._closing = True
        on_watcher = threading.current_thread() is self._watcher  # on_lost may call release()
        released = False
        try:
            if self._release is not None and not self.lost.is_set():
                # Release first: once it returns, leaving the block means the lock is free.
                try:
                    released = self._release(self._lease)
                except LockError as error:
                    log.warning("lock %r: release failed, the sidecar releases it when the hold is cancelled: %s",
                                self.name, error)
            # After a Release that found it held the sidecar ends the hold itself (OK). Cancelling
            # instead resets the stream, and an HTTP/2 server closes a connection that resets
            # ~1,000 streams in a burst.
            if released and not on_watcher:
                self._watcher.join(0.5 if timeout is None else min(timeout, 0.5))
        finally:
            # Whatever happened above (even KeyboardInterrupt), the call ends here.
            self._call.cancel()
        if not on_watcher:
            self._watcher.join(timeout)

    def __enter__(self) -> "HeldLease":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.release()
        if exc_type is None:
            self.check()
        return False

    def _watch(self) -> None:
        try:
            for message in self._call:
                self._lease = lease_from_message(message.lease)
                self.renewals += 1
            if self._closing:
                return
            # The sidecar ends a granted hold with OK only after a Release of its lease found it
            # held (someone else's, since this object did not ask): the lock is free already.
            error = LeaseLost(f"lock {self.name!r}: the lease was released through Release; the lock is free")
        except grpc.RpcError as rpc_error:
            code = rpc_error.code()
            if self._closing and code == grpc.StatusCode.CANCELLED:
                return  # our own cancel: the normal end
            if code == grpc.StatusCode.FAILED_PRECONDITION:
                what = "the lease is lost"
            else:
                # Outage, dropped connection, shutdown: the lease runs out at the last expires_at.
                what = f"the lease is no longer renewed and runs out at {self._lease.expires_at.isoformat()}"
            error = LeaseLost(
                f"lock {self.name!r}: {what} ({code.name}: {rpc_error.details()})", code, status_details(rpc_error)
            )
        self.error = error
        self.lost.set()
        if self._on_lost is not None:
            try:
                self._on_lost(error)
            except Exception:  # a failing callback must not hide the loss
                log.exception("on_lost callback of lock %r failed", self.name)
