"""Queries that read one partition (moto_server.py, point 4)."""

import inspect

from moto.dynamodb.models.table import Table

from .counters import STATS


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
