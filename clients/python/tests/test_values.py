"""Conversions and error mapping, without a sidecar."""
import datetime
import unittest

import grpc

from redlock_sidecar import FieldViolation, InvalidArgument, LeaseLost, LockError, Unavailable
from redlock_sidecar._stubs import error_details_pb2, lock_pb2, status_pb2
from redlock_sidecar.errors import DETAILS_KEY, from_rpc_error
from redlock_sidecar.lease import duration, lease_from_message, seconds_of


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, trailers=()):
        self._code, self._details, self._trailers = code, details, tuple(trailers)

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailers


def status_trailer(code, message, *details) -> tuple:
    """grpc-status-details-bin as the sidecar sends it: a google.rpc.Status of Any details."""
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return (DETAILS_KEY, status.SerializeToString())


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


    def test_status_details_are_decoded_onto_the_exception(self):
        code = grpc.StatusCode.INVALID_ARGUMENT
        info = error_details_pb2.ErrorInfo(reason="INVALID_ARGUMENT", domain="lock.v1", metadata={"k": "v"})
        bad = error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field="ttl", description="too short")]
        )
        trailers = [("other", "x"), status_trailer(code, "ttl: too short", info, bad)]
        error = from_rpc_error(FakeRpcError(code, "ttl: too short", trailers), "Acquire")
        self.assertIs(type(error), InvalidArgument)
        self.assertEqual((error.reason, error.domain, error.metadata), ("INVALID_ARGUMENT", "lock.v1", {"k": "v"}))
        self.assertEqual(error.field_violations, (FieldViolation("ttl", "too short"),))
        self.assertEqual(error.field, "ttl")
        self.assertEqual(str(error), "Acquire: ttl: too short")

    def test_no_or_unreadable_details_leave_the_error_as_it_was(self):
        for trailers in [(), [(DETAILS_KEY, b"\xff\xff not a Status")]]:
            error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down", trailers), "Call")
            self.assertIs(type(error), Unavailable)
            self.assertEqual((error.reason, error.domain, error.metadata, error.field_violations), (None, None, {}, ()))
        lost = LeaseLost("lost")
        self.assertEqual((lost.code, lost.reason, lost.metadata), (None, None, {}))


if __name__ == "__main__":
    unittest.main()
