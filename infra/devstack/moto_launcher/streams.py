"""Streams that keep 24 hours, iterators that expire, records answered as JSON (moto_server.py, points 3 and 6)."""

import bisect
import os
import time
from collections import OrderedDict

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models.table import StreamRecord, StreamShard
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodbstreams import models as streams_models
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from .counters import STATS
from .queries import _item_changed


STREAM_RETENTION_SECONDS = float(os.environ.get("PARTNEROPS_STREAM_RETENTION_SECONDS", 24 * 3600))
ITERATOR_LIFETIME_SECONDS = 15 * 60

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
