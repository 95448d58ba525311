"""moto made to behave like DynamoDB where partnerops relies on it: importing
the package applies every change (moto_server.py describes them)."""

from . import counters, overhead, queries, queues, streams, transactions  # noqa: F401
