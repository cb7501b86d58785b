"""Finds the generated lock.v1 stubs, and the google.rpc error detail classes.

They are not committed: generate.sh writes them into _gen/ beside this file,
or anywhere on the import path (for example a directory in PYTHONPATH).
google.rpc (status_pb2, error_details_pb2) may come from there too, or from
googleapis-common-protos (installed with grpcio-status): the same messages.
"""
import os
import sys

_GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_gen")

# Stubs generated beside the package win over any other "lock" package.
if os.path.isfile(os.path.join(_GEN, "lock", "v1", "lock_pb2.py")) and _GEN not in sys.path:
    sys.path.insert(0, _GEN)

try:
    from lock.v1 import lock_pb2, lock_pb2_grpc  # noqa: E402
except ImportError as error:
    raise ImportError(
        "redlock_sidecar needs the lock.v1 stubs generated from proto/: run "
        "clients/python/generate.sh (writes redlock_sidecar/_gen/), or put a "
        "directory holding lock/v1/lock_pb2.py on PYTHONPATH"
    ) from error

# Optional, so stubs generated before generate.sh wrote them still work: the
# errors then carry no reason, metadata or field violations (errors.py says so once).
try:
    from google.rpc import error_details_pb2, status_pb2  # noqa: E402
except ImportError:
    error_details_pb2 = status_pb2 = None

__all__ = ["lock_pb2", "lock_pb2_grpc", "status_pb2", "error_details_pb2"]
