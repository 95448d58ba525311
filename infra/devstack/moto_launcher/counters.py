"""The launcher's counters, and items copied structurally (and counted)."""

import copy

from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict


STATS = {
    "items_deep_copied": 0,
    "transactions": 0,
    "transactions_cancelled": 0,
    "stream_records_trimmed": 0,
    "items_examined_by_queries": 0,
    "sqs_clock_readings": 0,
}


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
