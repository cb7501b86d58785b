"""The helper against a live sidecar (.ci/polyglot.sh starts one).

Environment:
  REDLOCK_TARGET      host:port of the sidecar's gRPC API (required)
  REDLOCK_INSTANCES   its instances, comma-separated redis://host:port (required):
                      the loss tests write to them with redis-cli
  REDLOCK_KEY_PREFIX  the sidecar's LOCK_KEY_PREFIX (default redlock-sidecar:)
"""
import os
import socket
import subprocess
import threading
import time
import unittest
import uuid
from urllib.parse import urlparse

from redlock_sidecar import FieldViolation, InvalidArgument, LeaseLost, Lease, LockClient, NotAcquired, Unavailable


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: these tests need a live sidecar (see .ci/polyglot.sh)")
    return value


TARGET = _env("REDLOCK_TARGET")
INSTANCES = [urlparse(url) for url in _env("REDLOCK_INSTANCES").split(",")]
KEY_PREFIX = os.environ.get("REDLOCK_KEY_PREFIX", "redlock-sidecar:")


def redis_cli(instance, *args: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-h", instance.hostname, "-p", str(instance.port), *args],
        check=True, capture_output=True, text=True, timeout=10,
    )
    return done.stdout.strip()


def unique(what: str) -> str:
    return f"py-{what}-{uuid.uuid4().hex[:8]}"


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class LiveTest(unittest.TestCase):
    def setUp(self):
        self.client = LockClient(TARGET)
        self.addCleanup(self.client.close)

    def test_hold_renews_and_leaving_releases(self):
        name = unique("hold")
        with self.client.hold(name, ttl=1.5) as lease:
            first = lease.lease
            self.assertGreater(lease.fencing_token, 0)
            self.assertGreater(lease.expires_at.timestamp(), time.time())
            # Renewals come about every TTL/3.
            self.assertTrue(wait_for(lambda: lease.renewals >= 2, 3.0), f"renewals: {lease.renewals}")
            self.assertGreater(lease.expires_at, first.expires_at)
            self.assertEqual(lease.fencing_token, first.fencing_token)
            self.assertFalse(lease.lost.is_set())
        # Free at once: unreleased, the lease would have at least 2/3 of its TTL (1 s) left.
        after = self.client.acquire(name, ttl=5)
        self.assertGreater(after.fencing_token, first.fencing_token)
        self.assertTrue(self.client.release(after))

    def test_many_holds_on_one_channel_keep_the_connection(self):
        # An HTTP/2 server closes a connection that resets ~1,000 streams in a burst
        # (then 33 a second): holds ended by cancelling their call lost the channel.
        name = unique("churn")
        for _ in range(1500):
            with self.client.hold(name, ttl=5):
                pass

    def test_the_lock_is_free_once_the_block_is_left(self):
        # Repeated: the sidecar's own release of a cancelled call can come after a
        # quick next call now and then; the helper's Release must not leave that gap.
        for _ in range(20):
            name = unique("left")
            with self.client.hold(name, ttl=30):
                pass
            self.client.release(self.client.acquire(name, ttl=5))

    def test_expire_on_close_leaves_the_lease_to_run_out(self):
        name = unique("expire")
        with self.client.hold(name, ttl=1.0, expire_on_close=True) as lease:
            pass
        with self.assertRaises(NotAcquired):
            self.client.acquire(name, ttl=5)
        after = self.client.acquire(name, ttl=5, wait=3.0)
        self.assertGreaterEqual(time.time(), lease.expires_at.timestamp(), "granted before the told end")
        self.client.release(after)

    def test_not_acquired_while_held_elsewhere(self):
        name = unique("busy")
        with self.client.hold(name, ttl=10):
            with self.assertRaises(NotAcquired) as caught:
                with self.client.hold(name, ttl=10):
                    self.fail("a second hold of a held lock was granted")
            self.assertGreater(caught.exception.retry_after, 5)
            started = time.monotonic()
            with self.assertRaises(NotAcquired):
                self.client.acquire(name, ttl=10, wait=0.3)
            self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_acquire_extend_release(self):
        name = unique("unary")
        lease = self.client.acquire(name, ttl=5, owner="python-test")
        longer = self.client.extend(lease, ttl=30)
        self.assertGreater(longer.expires_at.timestamp(), lease.expires_at.timestamp() + 20)
        self.assertEqual(longer.fencing_token, lease.fencing_token)
        self.assertTrue(self.client.release(longer))
        self.assertFalse(self.client.release(longer))
        with self.assertRaises(LeaseLost):
            self.client.extend(lease)

    def test_the_same_request_id_gets_the_same_lease(self):
        # What the helper's own retries rely on: a retry whose first answer was lost.
        name = unique("retry")
        request_id = str(uuid.uuid4())
        first = self.client.acquire(name, ttl=10, request_id=request_id)
        again = self.client.acquire(name, ttl=10, request_id=request_id)
        self.assertEqual((again.lease_id, again.fencing_token), (first.lease_id, first.fencing_token))
        with self.assertRaises(NotAcquired):
            self.client.acquire(name, ttl=10)
        self.client.release(first)

    def test_loss_when_the_key_is_taken_over(self):
        name = unique("taken")
        key = f"{KEY_PREFIX}lock:{name}"
        told = []
        with self.assertRaises(LeaseLost) as on_exit:
            with self.client.hold(name, ttl=1.5, on_lost=told.append) as lease:
                self.addCleanup(lambda: [redis_cli(i, "DEL", key) for i in INSTANCES])
                for instance in INSTANCES:
                    self.assertEqual(redis_cli(instance, "SET", key, "someone-else", "KEEPTTL"), "OK")
                # The next renewal (within TTL/3) finds the key is not ours.
                self.assertTrue(lease.lost.wait(3.0), "the loss was not reported")
                self.assertIsInstance(lease.error, LeaseLost)
                self.assertEqual(lease.error.code.name, "FAILED_PRECONDITION")
                self.assertEqual(lease.error.reason, "LEASE_NOT_HELD")
                with self.assertRaises(LeaseLost):
                    lease.check()
        self.assertIs(on_exit.exception, lease.error)
        self.assertEqual(told, [lease.error])

    # Error details: google.rpc.ErrorInfo (and BadRequest) decoded from grpc-status-details-bin.

    def test_invalid_ttl_and_name_carry_reason_and_field(self):
        with self.assertRaises(InvalidArgument) as caught:
            self.client.acquire(unique("bad-ttl"), ttl=0.001)  # below LOCK_MIN_TTL (100 ms)
        error = caught.exception
        self.assertEqual(error.code.name, "INVALID_ARGUMENT")
        self.assertEqual((error.reason, error.domain), ("INVALID_ARGUMENT", "lock.v1"))
        self.assertEqual([v.field for v in error.field_violations], ["ttl"])
        self.assertEqual(error.field, "ttl")
        self.assertIn("LOCK_MIN_TTL", error.field_violations[0].description)
        self.assertIsInstance(error.field_violations[0], FieldViolation)

        with self.assertRaises(InvalidArgument) as caught:
            self.client.acquire("", ttl=5)
        self.assertEqual(caught.exception.reason, "INVALID_ARGUMENT")
        self.assertEqual(caught.exception.field_violations, (FieldViolation("name", "must not be empty"),))

    def test_extend_of_a_released_lease_says_lease_not_held(self):
        name = unique("released")
        lease = self.client.acquire(name, ttl=5)
        self.assertTrue(self.client.release(lease))
        with self.assertRaises(LeaseLost) as caught:
            self.client.extend(lease, ttl=5)
        error = caught.exception
        self.assertEqual(error.code.name, "FAILED_PRECONDITION")
        self.assertEqual((error.reason, error.domain), ("LEASE_NOT_HELD", "lock.v1"))
        self.assertEqual(error.metadata, {"lock": name})
        self.assertEqual(error.field_violations, ())

    def test_extend_of_a_malformed_lease_id_names_the_field(self):
        name = unique("malformed")
        forged = Lease(name=name, lease_id="not-a-lease-id", fencing_token=1, expires_at=None, ttl=5.0)
        with self.assertRaises(InvalidArgument) as caught:
            self.client.extend(forged, ttl=5)
        self.assertEqual(caught.exception.reason, "INVALID_ARGUMENT")
        self.assertEqual(caught.exception.field, "lease_id")

    def test_outage_says_quorum_unavailable_and_no_sidecar_says_nothing(self):
        # Both are Unavailable; the reason tells the sidecar's lost majority from no sidecar at all.
        pause_ms = 500
        impatient = LockClient(TARGET, retries=0)
        self.addCleanup(impatient.close)
        paused_at = time.monotonic()
        for instance in INSTANCES[:2]:
            redis_cli(instance, "CLIENT", "PAUSE", str(pause_ms), "ALL")
        self.addCleanup(lambda: time.sleep(max(0.0, paused_at + pause_ms / 1000 + 0.2 - time.monotonic())))
        with self.assertRaises(Unavailable) as caught:
            impatient.acquire(unique("quorum"), ttl=5)
        self.assertEqual(caught.exception.code.name, "UNAVAILABLE")
        self.assertEqual((caught.exception.reason, caught.exception.domain), ("QUORUM_UNAVAILABLE", "lock.v1"))

        nobody = LockClient(f"127.0.0.1:{_closed_port()}", retries=0, timeout=5)
        self.addCleanup(nobody.close)
        with self.assertRaises(Unavailable) as caught:
            nobody.acquire(unique("nobody"), ttl=5)
        self.assertIsNone(caught.exception.reason)
        self.assertEqual(caught.exception.metadata, {})

    def test_outage_is_unavailable_and_ends_a_hold(self):
        # CLIENT PAUSE on a majority: no instance restarts, so nothing is quarantined after.
        pause_ms = 3000
        client = LockClient(TARGET, retries=1, retry_delay=0.1)
        self.addCleanup(client.close)
        name = unique("outage")
        lost = threading.Event()
        with self.assertRaises(LeaseLost):
            with client.hold(name, ttl=1.0, on_lost=lambda _: lost.set()) as lease:
                paused_at = time.monotonic()
                for instance in INSTANCES[:2]:
                    redis_cli(instance, "CLIENT", "PAUSE", str(pause_ms), "ALL")
                # Even when this test fails, the next one starts after the pause.
                self.addCleanup(lambda: time.sleep(max(0.0, paused_at + pause_ms / 1000 + 0.2 - time.monotonic())))
                with self.assertRaises(Unavailable):
                    client.acquire(unique("outage-other"), ttl=5)
                self.assertTrue(lease.lost.wait(2.0), "an outage longer than the TTL did not end the hold")
                self.assertTrue(lost.is_set())
                self.assertLess(time.monotonic() - paused_at, pause_ms / 1000, "judged after the outage ended")
        # Service comes back once the instances answer again.
        self.assertTrue(wait_for(lambda: _acquires(client, unique("after")), pause_ms / 1000 + 5.0))

    def test_acquire_retries_through_a_short_outage(self):
        pause_ms = 500
        patient = LockClient(TARGET, retries=3, retry_delay=0.3)  # tries at about 0, 0.3, 0.9, 1.8 s
        impatient = LockClient(TARGET, retries=0)
        self.addCleanup(patient.close)
        self.addCleanup(impatient.close)
        paused_at = time.monotonic()
        for instance in INSTANCES[:2]:
            redis_cli(instance, "CLIENT", "PAUSE", str(pause_ms), "ALL")
        self.addCleanup(lambda: time.sleep(max(0.0, paused_at + pause_ms / 1000 + 0.2 - time.monotonic())))
        with self.assertRaises(Unavailable):
            impatient.acquire(unique("no-retry"), ttl=5)
        lease = patient.acquire(unique("retried"), ttl=5)
        self.assertGreater(time.monotonic() - paused_at, pause_ms / 1000, "granted during the outage")
        patient.release(lease)


def _closed_port() -> int:
    """A port nothing listens on (bound, never listened, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _acquires(client: LockClient, name: str) -> bool:
    try:
        client.release(client.acquire(name, ttl=1))
        return True
    except Unavailable:
        return False


if __name__ == "__main__":
    unittest.main()
