"""moto's HTTP server, made to behave like DynamoDB where partnerops relies on it.

1. Isolation. DynamoDB evaluates every conditional write and transaction
   against the latest committed state, so of two concurrent conditional writes
   on one item at most one succeeds. moto's threaded server does not lock its
   tables, so DynamoDB and DynamoDB Streams requests are applied one at a time;
   every other service stays concurrent.

2. Transactions that cost what they touch. moto 5.2 backs up every table a
   TransactWriteItems names with a deep copy of the whole table (once per
   item), and restores a cancelled transaction by swapping the copy in. That
   makes each transaction's cost grow with the table, and the swap leaves an
   open stream reader on the discarded table's stream, so nothing written
   afterwards is ever seen by it. Here a transaction keeps an undo log of the
   items it touches instead, and a cancelled one puts those items back and
   removes the stream records it added: the table object, and its stream, stay
   the same for the life of the server.

3. Streams that keep 24 hours. DynamoDB Streams removes records after 24 hours
   (PARTNEROPS_STREAM_RETENTION_SECONDS overrides it, for tests); reading
   before the oldest kept record is TrimmedDataAccessException. Shard
   iterators expire 15 minutes after they are handed out
   (ExpiredIteratorException), so a reader polling for hours does not grow
   the server's memory.

4. Queries that read one partition. moto 5.2 answers every Query by listing
   and sorting every item of the table, and matches an index's key one
   DynamoType comparison per item, so each query's cost grows with the whole
   table and, under sustained load, the local stack's queue consumers fall
   far behind its writers. DynamoDB reads the one partition asked. Here a
   query is handed only the items that can match: the table partition of its
   key, or for a secondary index the items filed under its partition key's
   value. Each streamed table keeps those files, one per index key
   attribute, built on its first index query and kept current from every
   change the stream records (and every change a cancelled transaction
   undoes), so an index query reads its partition, not the table. moto still
   applies every condition to the items, so its answers are the same.

5. Queues whose calls cost what they return. moto's SQS computes a queue's
   three message counts on every SendMessage (EventBridge's deliveries
   included) and asks the clock once per stored message for each, so a
   queue holding a backlog makes every send slower and the backlog grows.
   Here each count walks the messages once with one reading of the clock.

6. Requests that cost what they do. For every request moto's dispatcher lists
   its own package directory (about 150 stat calls) under a global lock to
   find the service and lists each handler's methods with inspect to find the
   action, EventBridge compiles each rule target's JSONPath input
   paths with a fresh parser (a PLY grammar built per event), and werkzeug
   writes an access-log line that names neither the service nor the action.
   Here the module list and the method names are read once, compiled paths are kept, and only
   server errors are logged. Item reads and writes, and stream records, are
   answered with the DynamoDB JSON moto already holds instead of being walked
   through the service model attribute by attribute, and an item is copied
   (for an update's stream record, a transaction's undo) structurally rather
   than through copy.deepcopy, which re-sized the whole item on every key.

`GET /_partnerops/stats` reports counters (items deep-copied, transactions,
stream records kept and trimmed, items examined by queries, SQS clock
readings, live shard iterators, resident memory, requests and moto's seconds
by action) so tests can count the work a request does instead of timing it.

Each change lives in moto_launcher/, one module per area (counters,
transactions, streams, queries, queues, overhead); importing the package
applies them all.

Usage: python moto_server.py -H 127.0.0.1 -p PORT
"""

import argparse
import json
import signal
import sys
import threading
import time

from moto.dynamodbstreams import models as streams_models
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

import moto_launcher  # noqa: F401  (importing it applies every change above)
from moto_launcher.counters import STATS

_DYNAMODB = threading.Lock()

# Requests by action ("dynamodb.TransactWriteItems", "sqs.ReceiveMessage", "POST /v2/email"):
# how many, and the seconds moto spent on them (for DynamoDB, with the table
# lock held, so the time spent waiting behind other requests is not counted
# twice), so a load run can say where moto's time went.
REQUESTS = {}
_REQUESTS = threading.Lock()
_SERVICES = {"DynamoDB": "dynamodb", "DynamoDBStreams": "streams", "AmazonSQS": "sqs", "AWSEvents": "events"}


# --- server -------------------------------------------------------------------


def _stats():
    kept = 0
    iterators = 0
    for account in streams_models.dynamodbstreams_backends.values():
        for backend in account.values():
            iterators += len(backend.shard_iterators)
    from moto.dynamodb.models import dynamodb_backends

    for account in dynamodb_backends.values():
        for backend in account.values():
            for table in backend.tables.values():
                if table.stream_shard is not None:
                    kept += len(table.stream_shard.items)
    with _REQUESTS:
        requests = {action: {"count": n, "seconds": round(t, 3)} for action, (n, t) in sorted(REQUESTS.items())}
    return dict(STATS, stream_records_kept=kept, shard_iterators=iterators, rss_mib=_rss_mib(), requests=requests)


def _action(environ):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        service, _, action = target.partition(".")
        return _SERVICES.get(service.split("_")[0], service) + "." + action
    path = "/".join(environ.get("PATH_INFO", "/").split("/")[:3])
    return f"{environ.get('REQUEST_METHOD', '')} {path}"


def _count_request(action, started):
    took = time.perf_counter() - started
    with _REQUESTS:
        n, t = REQUESTS.get(action, (0, 0.0))
        REQUESTS[action] = (n + 1, t + took)


def _rss_mib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def serialise_dynamodb(app):
    def wrapped(environ, start_response):
        if environ.get("PATH_INFO") == "/_partnerops/stats":
            with _DYNAMODB:
                body = json.dumps(_stats()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        started = time.perf_counter()
        action = _action(environ)
        try:
            if not action.startswith(("dynamodb.", "streams.")):
                return app(environ, start_response)
            with _DYNAMODB:
                started = time.perf_counter()
                result = app(environ, start_response)
                try:
                    return [b"".join(result)]
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
        finally:
            _count_request(action, started)

    return wrapped


class QuietRequestHandler(MotoRequestHandler):
    """Logs only server errors: werkzeug's line per request ("POST / 200"), which
    names neither the service nor the action, took a sixth of moto's time under
    sustained load."""

    def log_request(self, code="-", size="-"):
        if str(getattr(code, "value", code)).startswith("5"):
            super().log_request(code, size)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = serialise_dynamodb(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=QuietRequestHandler)


if __name__ == "__main__":
    main()
