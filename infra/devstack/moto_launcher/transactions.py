"""Transactions that cost what they touch (moto_server.py, point 2)."""

import copy

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend

from .counters import STATS
from .queries import _item_at, _item_changed
from .streams import _next_sequence, _truncate_stream


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

            # The condition was checked above, against the same item under the
            # same lock: moto would parse and evaluate it a second time.
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=None,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=None,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=None,
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
