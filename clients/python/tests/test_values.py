"""Conversions and error mapping, without a sidecar."""
import datetime
import unittest

import grpc

from redlock_sidecar import InvalidArgument, LeaseLost, LockError, Unavailable
from redlock_sidecar._stubs import lock_pb2
from redlock_sidecar.errors import from_rpc_error
from redlock_sidecar.lease import duration, lease_from_message, seconds_of


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class ValuesTest(unittest.TestCase):
    def test_durations_keep_milliseconds_and_none_stays_unset(self):
        self.assertEqual(duration(1.5).ToMilliseconds(), 1500)
        self.assertEqual(seconds_of(duration(0.25)), 0.25)
        self.assertIsNone(duration(None))
        self.assertFalse(lock_pb2.AcquireRequest(name="n", ttl=duration(None)).HasField("ttl"))
        with self.assertRaises(ValueError):
            duration(-1)

    def test_lease_from_message_is_utc_and_hides_the_lease_id(self):
        message = lock_pb2.Lease(name="reports", lease_id="secret-id", fencing_token=7, ttl=duration(30))
        message.expires_at.FromSeconds(2_000_000_000)
        lease = lease_from_message(message)
        self.assertEqual(lease.expires_at, datetime.datetime.fromtimestamp(2_000_000_000, datetime.timezone.utc))
        self.assertEqual((lease.fencing_token, lease.ttl), (7, 30.0))
        self.assertNotIn("secret-id", repr(lease))

    def test_status_codes_map_to_the_exceptions(self):
        cases = {
            grpc.StatusCode.UNAVAILABLE: Unavailable,
            grpc.StatusCode.FAILED_PRECONDITION: LeaseLost,
            grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
        }
        for code, kind in cases.items():
            error = from_rpc_error(FakeRpcError(code, "why"), "Call")
            self.assertIs(type(error), kind)
            self.assertEqual(error.code, code)
            self.assertIn("why", str(error))
        other = from_rpc_error(FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "no"), "Call")
        self.assertIs(type(other), LockError)
        self.assertIn("PERMISSION_DENIED", str(other))


if __name__ == "__main__":
    unittest.main()
