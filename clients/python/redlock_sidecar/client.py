"""LockClient: the sidecar's calls with Python values and exceptions."""
import time
import uuid
from typing import Optional

import grpc

from ._stubs import lock_pb2, lock_pb2_grpc
from .errors import NotAcquired, Unavailable, from_rpc_error
from .hold import HeldLease, OnLost
from .lease import Lease, duration, lease_from_message, seconds_of


class LockClient:
    """A client of one sidecar. Durations are in seconds; None leaves the sidecar's default.

    `timeout` bounds each unary call (seconds; a call that waits gets `wait` on
    top). `retries` is how many more times an UNAVAILABLE Acquire or Hold is
    tried, with the same request_id, so a retry whose first answer was lost
    gets the same lease back instead of acquired=false.
    """

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        channel: Optional[grpc.Channel] = None,
        owner: str = "",
        timeout: float = 10.0,
        retries: int = 2,
        retry_delay: float = 0.2,
    ):
        self._owns_channel = channel is None
        self._channel = channel if channel is not None else grpc.insecure_channel(target)
        self._stub = lock_pb2_grpc.LockServiceStub(self._channel)
        self._owner = owner
        self._timeout = timeout
        self._retries = retries
        self._retry_delay = retry_delay

    def close(self) -> None:
        """Closes the channel this client opened (ends its holds: their leases are released or run out)."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> "LockClient":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def acquire(
        self,
        name: str,
        ttl: Optional[float] = None,
        wait: float = 0.0,
        *,
        owner: Optional[str] = None,
        request_id: Optional[str] = None,
    ) -> Lease:
        """Takes the lock, waiting up to `wait` seconds. Raises NotAcquired, Unavailable.

        Renew the lease with extend() and give it back with release(); hold()
        does both for you.
        """
        request = lock_pb2.AcquireRequest(
            name=name,
            ttl=duration(ttl),
            wait=duration(wait),
            owner=self._owner if owner is None else owner,
            request_id=request_id or str(uuid.uuid4()),
        )
        response = self._with_retries(
            lambda: self._stub.Acquire(request, timeout=self._timeout + wait), f"Acquire {name!r}"
        )
        if not response.acquired:
            raise NotAcquired(name, _retry_after(response))
        return lease_from_message(response.lease)

    def extend(self, lease: Lease, ttl: Optional[float] = None) -> Lease:
        """Renews the lease for `ttl` seconds from now. Raises LeaseLost when it is no longer held."""
        request = lock_pb2.ExtendRequest(name=lease.name, lease_id=lease.lease_id, ttl=duration(ttl))
        try:
            response = self._stub.Extend(request, timeout=self._timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error, f"Extend {lease.name!r}") from None
        return lease_from_message(response.lease)

    def release(self, lease: Lease) -> bool:
        """Gives the lease back. False when it was no longer held (not an error)."""
        request = lock_pb2.ReleaseRequest(name=lease.name, lease_id=lease.lease_id)
        try:
            return self._stub.Release(request, timeout=self._timeout).released
        except grpc.RpcError as error:
            raise from_rpc_error(error, f"Release {lease.name!r}") from None

    def hold(
        self,
        name: str,
        ttl: Optional[float] = None,
        wait: float = 0.0,
        *,
        owner: Optional[str] = None,
        request_id: Optional[str] = None,
        expire_on_close: bool = False,
        on_lost: Optional[OnLost] = None,
    ) -> HeldLease:
        """Takes the lock (waiting up to `wait` seconds) and keeps it while the call stays open:

            with client.hold("reports", ttl=30) as lease:
                work(lease.fencing_token, stop=lease.lost)

        Returns once the lease is held; raises NotAcquired or Unavailable when
        it is not. See HeldLease for how a loss is reported.
        """
        request = lock_pb2.HoldRequest(
            name=name,
            ttl=duration(ttl),
            wait=duration(wait),
            owner=self._owner if owner is None else owner,
            request_id=request_id or str(uuid.uuid4()),
            expire_on_close=expire_on_close,
        )

        def open_hold():
            # No deadline: it would end the hold. The sidecar bounds the wait.
            call = self._stub.Hold(request)
            try:
                return call, next(call)
            except BaseException:
                call.cancel()
                raise

        try:
            call, first = self._with_retries(open_hold, f"Hold {name!r}")
        except StopIteration:
            raise Unavailable(f"Hold {name!r}: the call ended without an answer") from None
        if not first.acquired:
            call.cancel()
            raise NotAcquired(name, _retry_after(first))
        release = None if expire_on_close else self.release
        return HeldLease(call, lease_from_message(first.lease), on_lost, release)

    def _with_retries(self, attempt, what: str):
        for tries_left in range(self._retries, -1, -1):
            try:
                return attempt()
            except grpc.RpcError as error:
                failure = from_rpc_error(error, what)
                if not isinstance(failure, Unavailable) or tries_left == 0:
                    raise failure from None
            time.sleep(self._retry_delay * (self._retries - tries_left + 1))
        raise AssertionError("unreachable")


def _retry_after(response) -> Optional[float]:
    return seconds_of(response.retry_after) if response.HasField("retry_after") else None
