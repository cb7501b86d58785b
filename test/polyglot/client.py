#!/usr/bin/env python3
"""Polyglot proof: a Python client of lock.v1.LockService, with stubs generated
from proto/ by protoc and grpc_python_plugin (never committed; .ci/polyglot.sh
generates them into a temporary directory):

    protoc -I proto -I /usr/include --python_out=GEN --grpc_python_out=GEN \
        --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \
        proto/lock/v1/lock.proto
    python3 test/polyglot/client.py --gen GEN --target 127.0.0.1:50051

Acquire, contention, KeepAlive (at least two renewals, then cancel: the
lease must be released at once), Extend (never shortens a lease), Release,
and the error codes. Exits non-zero on the first failure.
"""
import argparse
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gen", required=True, help="directory holding the generated lock/v1/*_pb2*.py")
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the sidecar's gRPC API")
    args = parser.parse_args()
    sys.path.insert(0, args.gen)

    import grpc
    from google.protobuf import duration_pb2
    from lock.v1 import lock_pb2, lock_pb2_grpc

    def dur(ms: int) -> duration_pb2.Duration:
        d = duration_pb2.Duration()
        d.FromMilliseconds(ms)
        return d

    def check(condition: bool, what: str) -> None:
        if not condition:
            raise AssertionError(what)
        print(f"ok  {what}")

    def code_of(call) -> grpc.StatusCode:
        try:
            call()
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    channel = grpc.insecure_channel(args.target)
    grpc.channel_ready_future(channel).result(timeout=15)
    stub = lock_pb2_grpc.LockServiceStub(channel)
    name = f"polyglot-{os.getpid()}-{int(time.time() * 1000)}"

    # Acquire, and contention as a normal outcome. The short TTL lets the
    # KeepAlive below move expires_at forward (a renewal never shortens a lease).
    ttl_ms = 1500
    first = stub.Acquire(lock_pb2.AcquireRequest(name=name, ttl=dur(ttl_ms), owner="python"), timeout=5)
    check(first.acquired and first.HasField("lease"), f"Acquire {name}: acquired")
    lease = first.lease
    check(lease.fencing_token > 0 and len(lease.lease_id) > 0, f"lease with fencing token {lease.fencing_token}")
    check(lease.expires_at.ToMilliseconds() > time.time() * 1000, "expires_at lies in the future")
    other = stub.Acquire(lock_pb2.AcquireRequest(name=name, ttl=dur(5000)), timeout=5)
    check(not other.acquired and not other.HasField("lease"), "a second Acquire while held: acquired=false, status OK")
    check(other.HasField("retry_after") and other.retry_after.ToMilliseconds() > 0, "retry_after hints at the holder's remaining TTL")

    # KeepAlive: the first message at once, then one per renewal (about TTL/3).
    stream = stub.KeepAlive(lock_pb2.KeepAliveRequest(name=name, lease_id=lease.lease_id, ttl=dur(ttl_ms)), timeout=30)
    expirations = []
    for message in stream:
        expirations.append(message.lease.expires_at.ToMilliseconds())
        if len(expirations) == 3:
            break
    check(len(expirations) == 3, "KeepAlive: the first message and two renewals")
    check(expirations[1] > expirations[0] and expirations[2] > expirations[1], "each renewal moved expires_at forward")
    stream.cancel()
    cancelled_at = time.monotonic()
    # Closing the stream releases the lease at once: the lock is free well
    # before its TTL could have run out.
    reacquired = None
    while time.monotonic() - cancelled_at < ttl_ms / 1000:
        attempt = stub.Acquire(lock_pb2.AcquireRequest(name=name, ttl=dur(5000)), timeout=5)
        if attempt.acquired:
            reacquired = attempt.lease
            break
        time.sleep(0.02)
    released_after = time.monotonic() - cancelled_at
    check(reacquired is not None, f"after cancelling KeepAlive the lock was free again within {released_after * 1000:.0f} ms (< TTL {ttl_ms} ms): released, not expired")
    check(reacquired.fencing_token > lease.fencing_token, "the new lease has a larger fencing token")
    check(code_of(lambda: stub.Extend(lock_pb2.ExtendRequest(name=name, lease_id=lease.lease_id), timeout=5)) == grpc.StatusCode.FAILED_PRECONDITION,
          "Extend of the released lease: FAILED_PRECONDITION")

    # Extend, which never shortens the end it already reported.
    extended = stub.Extend(lock_pb2.ExtendRequest(name=name, lease_id=reacquired.lease_id, ttl=dur(20_000)), timeout=5)
    check(extended.lease.expires_at.ToMilliseconds() > reacquired.expires_at.ToMilliseconds() + 10_000, "Extend pushed expires_at by the new TTL")
    check(extended.lease.fencing_token == reacquired.fencing_token, "Extend keeps the fencing token")
    shorter = stub.Extend(lock_pb2.ExtendRequest(name=name, lease_id=reacquired.lease_id, ttl=dur(1000)), timeout=5)
    # The same end can read 1 ms apart from one answer to the next: it is
    # converted from the sidecar's monotonic clock to wall time each time.
    check(shorter.lease.expires_at.ToMilliseconds() >= extended.lease.expires_at.ToMilliseconds() - 10, "an Extend with a shorter TTL keeps the longer end")

    # Release, idempotent.
    check(stub.Release(lock_pb2.ReleaseRequest(name=name, lease_id=reacquired.lease_id), timeout=5).released, "Release: released=true")
    check(not stub.Release(lock_pb2.ReleaseRequest(name=name, lease_id=reacquired.lease_id), timeout=5).released, "Release again: released=false, status OK")

    # Invalid input names the field.
    try:
        stub.Acquire(lock_pb2.AcquireRequest(name=""), timeout=5)
        check(False, "an empty name is refused")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.INVALID_ARGUMENT and "name" in (error.details() or ""), "an empty name: INVALID_ARGUMENT naming the field")

    channel.close()
    print(f"polyglot: Python client OK against {args.target}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # any failure, including RpcError, fails the check
        print(f"polyglot: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
