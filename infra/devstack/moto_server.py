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

Usage: python moto_server.py -H 127.0.0.1 -p PORT
"""

import argparse
import bisect
import copy
import functools
import inspect
import json
import os
import signal
import sys
import threading
import time
from collections import OrderedDict

import jsonpath_ng.ext as jsonpath_ext
from moto import backends as moto_backends
from moto.core import responses as moto_core_responses
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams import models as streams_models
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.sqs import models as sqs_models
from moto.sqs.models import Queue
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

STREAM_RETENTION_SECONDS = float(os.environ.get("PARTNEROPS_STREAM_RETENTION_SECONDS", 24 * 3600))
ITERATOR_LIFETIME_SECONDS = 15 * 60

STATS = {
    "items_deep_copied": 0,
    "transactions": 0,
    "transactions_cancelled": 0,
    "stream_records_trimmed": 0,
    "items_examined_by_queries": 0,
    "sqs_clock_readings": 0,
}

_DYNAMODB = threading.Lock()

# Requests by action ("dynamodb.TransactWriteItems", "sqs.ReceiveMessage", "POST /v2/email"):
# how many, and the seconds moto spent on them (for DynamoDB, with the table
# lock held, so the time spent waiting behind other requests is not counted
# twice), so a load run can say where moto's time went.
REQUESTS = {}
_REQUESTS = threading.Lock()
_SERVICES = {"DynamoDB": "dynamodb", "DynamoDBStreams": "streams", "AmazonSQS": "sqs", "AWSEvents": "events"}


# --- counting ---------------------------------------------------------------


def _copied_value(value):
    duplicate = DynamoType.__new__(DynamoType)
    duplicate.__dict__.update(value.__dict__)
    if value.type == "L":
        duplicate.value = [_copied_value(v) for v in value.value]
    elif value.type == "M":
        duplicate.value = {k: _copied_value(v) for k, v in value.value.items()}
    elif value.type in ("SS", "NS", "BS"):
        duplicate.value = list(value.value)
    return duplicate


def _counted_item_deepcopy(self, memo):
    """A structural copy. copy.deepcopy of an Item rebuilt its attributes
    through LimitedSizeDict.__setitem__, which sizes the whole item on every
    key, and was a third of a transaction's time."""
    STATS["items_deep_copied"] += 1
    cls = self.__class__
    duplicate = cls.__new__(cls)
    memo[id(self)] = duplicate
    for name, value in self.__dict__.items():
        if name == "attrs":
            value = LimitedSizeDict({k: _copied_value(v) for k, v in value.items()})
        elif type(value) is DynamoType:
            value = _copied_value(value)
        else:
            value = copy.deepcopy(value, memo)
        setattr(duplicate, name, value)
    return duplicate


Item.__deepcopy__ = _counted_item_deepcopy


# --- transactions -------------------------------------------------------------


def _key_of(table, op_type, op):
    if op_type == "Put":
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def _restore(table, hash_value, range_value, previous):
    _item_changed(table, _item_at(table, (hash_value, range_value)), previous)
    if range_value is None:
        if previous is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = previous
        return
    bucket = table.items[hash_value]
    if previous is None:
        bucket.pop(range_value, None)
        if not bucket:
            table.items.pop(hash_value, None)
    else:
        bucket[range_value] = previous


def transact_write_items(self, transact_items):
    """moto's TransactWriteItems with an undo log in place of table copies."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    STATS["transactions"] += 1
    undo = []  # (table, hash_value, range_value, item before the write)
    stream_marks = {}  # table name -> (shard, the sequence number its next record gets)
    target_items = set()

    def check_unicity(table_name, key):
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    def roll_back():
        for table, hash_value, range_value, previous in reversed(undo):
            _restore(table, hash_value, range_value, previous)
        for shard, sequence in stream_marks.values():
            _truncate_stream(shard, sequence)

    errors = []
    for item in transact_items:
        original_item = None
        if len(list(item.keys())) > 1:
            roll_back()
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            table = self.get_table(table_name)
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            key = _key_of(table, op_type, op)
            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                if not get_filter_expression(condition_expression, names, values).expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                if table_name not in stream_marks and table.stream_shard is not None:
                    stream_marks[table_name] = (table.stream_shard, _next_sequence(table.stream_shard))
                hash_value, range_value = self.get_keys_value(table, key)
                undo.append((table, hash_value, range_value, copy.deepcopy(current)))

            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            roll_back()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - reported as the item's cancellation reason
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        roll_back()
        STATS["transactions_cancelled"] += 1
        raise TransactionCanceledException(errors)


DynamoDBBackend.transact_write_items = transact_write_items


# --- streams ------------------------------------------------------------------
# A shard keeps its records in a list with the number trimmed from its front,
# and the monotonic time each was added, so trimming is a bisect and a slice.


def _state(shard):
    state = shard.__dict__.get("_partnerops")
    if state is None:
        state = {"trimmed": 0, "added_at": [time.monotonic()] * len(shard.items)}
        shard.__dict__["_partnerops"] = state
    return state


def _next_sequence(shard):
    return _first_sequence(shard) + len(shard.items)


def _truncate_stream(shard, sequence):
    """Removes the records from `sequence` on: those of a cancelled transaction."""
    keep = max(sequence - _first_sequence(shard), 0)
    del shard.items[keep:]
    del _state(shard)["added_at"][keep:]


def _trim(shard):
    state = _state(shard)
    added_at = state["added_at"]
    if not added_at:
        return
    cutoff = time.monotonic() - STREAM_RETENTION_SECONDS
    if added_at[0] >= cutoff:
        return
    expired = bisect.bisect_left(added_at, cutoff)
    del shard.items[:expired]
    del added_at[:expired]
    state["trimmed"] += expired
    STATS["stream_records_trimmed"] += expired


def _first_sequence(shard):
    return shard.starting_sequence_number + _state(shard)["trimmed"]


def _stream_add(self, old, new):
    _item_changed(self.table, old, new)
    _trim(self)
    view = self.table.stream_specification["StreamViewType"]
    if old is None:
        event_name = "INSERT"
    elif new is None:
        event_name = "REMOVE"
    else:
        event_name = "MODIFY"
    sequence = _next_sequence(self)
    self.items.append(StreamRecord(self.table, view, event_name, old, new, sequence))
    _state(self)["added_at"].append(time.monotonic())


def _stream_get(self, start, quantity):
    _trim(self)
    first = _first_sequence(self)
    if start < first:
        raise JsonRESTError(
            "TrimmedDataAccessException",
            "The shard iterator points at stream records that are older than the retention period.",
        )
    offset = start - first
    return [record.to_json() for record in self.items[offset : offset + quantity]]


StreamShard.add = _stream_add
StreamShard.get = _stream_get

_original_iterator_init = streams_models.ShardIterator.__init__


def _iterator_init(self, streams_backend, stream_shard, shard_iterator_type, sequence_number=None):
    _original_iterator_init(self, streams_backend, stream_shard, shard_iterator_type, sequence_number)
    _trim(stream_shard)
    if shard_iterator_type == "TRIM_HORIZON":
        self.sequence_number = _first_sequence(stream_shard)
    elif shard_iterator_type == "LATEST":
        self.sequence_number = _next_sequence(stream_shard)
    self.created_at = time.monotonic()


streams_models.ShardIterator.__init__ = _iterator_init


def _iterators(backend):
    iterators = backend.shard_iterators
    if not isinstance(iterators, OrderedDict):
        iterators = OrderedDict(iterators)
        backend.shard_iterators = iterators
    cutoff = time.monotonic() - ITERATOR_LIFETIME_SECONDS
    while iterators:
        oldest = next(iter(iterators.values()))
        if getattr(oldest, "created_at", 0) >= cutoff:
            break
        iterators.popitem(last=False)
    return iterators


_original_get_shard_iterator = streams_models.DynamoDBStreamsBackend.get_shard_iterator


def _get_shard_iterator(self, arn, shard_id, shard_iterator_type, sequence_number=None):
    _iterators(self)
    return _original_get_shard_iterator(self, arn, shard_id, shard_iterator_type, sequence_number)


def _get_records(self, iterator_arn, limit):
    iterator = _iterators(self).get(iterator_arn)
    if iterator is None:
        raise JsonRESTError("ExpiredIteratorException", "Iterator expired. The iterator was created over 15 minutes ago.")
    return iterator.get(limit)


def _get_records_response(self):
    """The records as JSON, written directly: moto's model-driven serializer
    walked every attribute of up to a thousand images per call, and a relay
    reading a busy stream spent more of moto's time there than in any write."""
    limit = self._get_param("Limit") or 1000
    return dynamo_json_dump(self.backend.get_records(self._get_param("ShardIterator"), limit))


streams_models.DynamoDBStreamsBackend.get_shard_iterator = _get_shard_iterator
streams_models.DynamoDBStreamsBackend.get_records = _get_records
DynamoDBStreamsHandler.get_records = _get_records_response


# --- queries -------------------------------------------------------------------

_original_query = Table.query
_original_all_items = Table.all_items
_QUERY_SIGNATURE = inspect.signature(_original_query)


def _every_item(table):
    for hash_set in table.items.values():
        if table.range_key_attr:
            yield from hash_set.values()
        else:
            yield hash_set


def _primary_key(item):
    return (item.hash_key, item.range_key)


def _item_at(table, key):
    hash_value, range_value = key
    bucket = table.items.get(hash_value)
    if bucket is None or not table.range_key_attr:
        return bucket
    return bucket.get(range_value)


def _index_attributes(table):
    """The attributes that key a secondary index's partitions, other than the table's own."""
    names = set()
    for index in table.all_indexes():
        for key in index.schema:
            if key["KeyType"] == "HASH" and key["AttributeName"] != table.hash_key_attr:
                names.add(key["AttributeName"])
    return names


def _filed_under(item, name):
    held = item.attrs.get(name) if item is not None else None
    # Only strings and binaries compare equal exactly when their text does.
    if held is None or held.type not in ("S", "B"):
        return None
    return (held.type, held.value)


def _files(table):
    """attribute -> (type, value) -> the primary keys of the items holding it.

    Kept only for a streamed table, whose every change passes through the
    stream; built from the whole table once, on the first index query."""
    if table.stream_shard is None:
        return None
    files = table.__dict__.get("_partnerops_files")
    if files is None:
        files = {name: {} for name in _index_attributes(table)}
        for item in _every_item(table):
            _refile(files, None, item)
        table.__dict__["_partnerops_files"] = files
    return files


def _refile(files, old, new):
    key = _primary_key(new if new is not None else old)
    for name, by_value in files.items():
        before, after = _filed_under(old, name), _filed_under(new, name)
        if before == after:
            continue
        if before is not None:
            keys = by_value.get(before)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del by_value[before]
        if after is not None:
            by_value.setdefault(after, {})[key] = None


def _item_changed(table, old, new):
    files = table.__dict__.get("_partnerops_files")
    if files is not None and (old is not None or new is not None):
        _refile(files, old, new)


def _candidates(table, arguments):
    """(the items a query can match, how many were examined), or None to let moto list the table."""
    index_name = arguments.get("index_name")
    hash_key = arguments.get("hash_key")
    if not index_name:
        if hash_key is None:
            return None
        bucket = table.items.get(hash_key)
        if bucket is None:
            return [], 0
        found = list(bucket.values()) if table.range_key_attr else [bucket]
        return found, len(found)
    conditions = list(arguments.get("hash_key_conditions") or [])
    if not conditions:
        index = next((i for i in table.all_indexes() if i.name == index_name), None)
        hashes = [k["AttributeName"] for k in (index.schema if index else []) if k["KeyType"] == "HASH"]
        if len(hashes) != 1 or hash_key is None:
            return None
        conditions = [(hashes[0], hash_key)]
    if any(value.type not in ("S", "B") for _, value in conditions):
        return None
    wanted = [(name, value.type, value.value) for name, value in conditions]
    files = _files(table)
    first = wanted[0][0]
    if files is not None and first in files:
        keys = files[first].get((wanted[0][1], wanted[0][2]), {})
        examined = [item for item in (_item_at(table, key) for key in keys) if item is not None]
    else:
        examined = list(_every_item(table))
    found = []
    for item in examined:
        attrs = item.attrs
        for name, kind, text in wanted:
            held = attrs.get(name)
            if held is None or held.type != kind or held.value != text:
                break
        else:
            found.append(item)
    return found, len(examined)


def _query(self, *args, **kwargs):
    bound = _QUERY_SIGNATURE.bind(self, *args, **kwargs)
    candidates = _candidates(self, bound.arguments)
    if candidates is None:
        STATS["items_examined_by_queries"] += sum(1 for _ in _every_item(self))
    else:
        found, examined = candidates
        STATS["items_examined_by_queries"] += examined
        self._partnerops_candidates = found
    try:
        return _original_query(self, *args, **kwargs)
    finally:
        self.__dict__.pop("_partnerops_candidates", None)


def _all_items(self):
    candidates = self.__dict__.pop("_partnerops_candidates", None)
    if candidates is None:
        return _original_all_items(self)
    return sorted(candidates, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


Table.query = _query
Table.all_items = _all_items


# --- queues --------------------------------------------------------------------
# A message is visible once now > visible_at, and delayed while now < delayed_until
# (moto's Message.visible and Message.delayed, read with one clock reading).
# moto reads the clock through its module's `unix_time_millis`, so counting
# there counts its readings and these alike.

_unix_time_millis = sqs_models.unix_time_millis


def _counted_clock(*args, **kwargs):
    STATS["sqs_clock_readings"] += 1
    return _unix_time_millis(*args, **kwargs)


sqs_models.unix_time_millis = _counted_clock


def _ready(self):
    now = sqs_models.unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _count_ready(self):
    return len(_ready(self))


def _count_not_visible(self):
    now = sqs_models.unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def _count_delayed(self):
    now = sqs_models.unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


Queue.messages = property(_ready)
Queue.approximate_number_of_messages = property(_count_ready)
Queue.approximate_number_of_messages_not_visible = property(_count_not_visible)
Queue.approximate_number_of_messages_delayed = property(_count_delayed)


# --- per-request overhead ---------------------------------------------------

# Item reads and writes answer in DynamoDB JSON, which is what moto's results
# already hold: written directly instead of walked member by member through
# the service model (a tenth of moto's time under load). Errors, and every
# other action, still go through moto's serializer.
_ITEM_ACTIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
     "TransactGetItems", "TransactWriteItems"}
)
_original_serialized = DynamoHandler.serialized


def _serialized(self, action_result):
    if isinstance(action_result.result, dict) and self._get_action() in _ITEM_ACTIONS:
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        headers.update(self.response_headers)
        return 200, headers, dynamo_json_dump(action_result.result)
    return _original_serialized(self, action_result)


DynamoHandler.serialized = _serialized

_method_names = moto_core_responses.method_names_from_class
moto_core_responses.method_names_from_class = functools.lru_cache(maxsize=None)(lambda cls: frozenset(_method_names(cls)))
_MOTO_MODULES = tuple(moto_backends.list_of_moto_modules())
moto_backends.list_of_moto_modules = lambda: _MOTO_MODULES
jsonpath_ext.parse = functools.lru_cache(maxsize=512)(jsonpath_ext.parse)


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
