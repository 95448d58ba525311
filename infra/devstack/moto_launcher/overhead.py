"""Requests that cost what they do (moto_server.py, point 6)."""

import functools

import jsonpath_ng.ext as jsonpath_ext
from moto import backends as moto_backends
from moto.core import responses as moto_core_responses
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler


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
