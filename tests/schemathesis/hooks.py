"""Schemathesis hooks for the partnerops contract run (tests/tests/contract.rs).

Every check runs, and every failure fails the run, except refusals of
schema-valid requests for reasons that a schema cannot state, because they
depend on what the server has seen, on today's date, or on the public suffix
list:

- 422 idempotency_key_reused: an Idempotency-Key binds the first body sent
  with it for 24 hours (SPEC §4); a fuzzer sends one drawn key with many
  bodies. Replays and reuse are covered by tests/tests/conventions.rs.
- 400 invalid_cursor: only a cursor the server issued means anything.
- 422 webhook_url_not_allowed: whether a URL's host resolves, and to public
  addresses only, is DNS's answer at the time, not the URL's shape.
- 409 endpoint_limit, endpoint_disabled, already_delivered: a partner's
  tenth endpoint, an endpoint its receiver disabled, a message delivered
  already all depend on what happened before the request.
- 422 validation_failed where every error is on a field whose rule is one of
  those: a company domain (a registrable name under the public suffix list,
  not a free-mail provider), a date relative to today (expected close date,
  certification expiry, CRM event time) or a reference to a stored record.
- 422 validation_failed on `role` of PATCH /v1/admin/users/{id}: a partner
  user keeps the partner role and a staff user cannot take it, which depends
  on the stored user's role.
- 422 validation_failed on `to` of GET /v1/reports/*: a range's end must not
  be before its start nor more than 366 days after it, a relation between two
  parameters that a schema cannot state.

Any other answer to the same request, and every other check, still fails.
"""

import json
import re

import schemathesis

STATEFUL_REFUSALS = {
    (422, "idempotency_key_reused"),
    (400, "invalid_cursor"),
    (422, "webhook_url_not_allowed"),
    (409, "endpoint_limit"),
    (409, "endpoint_disabled"),
    (409, "already_delivered"),
}
SEMANTIC_FIELDS = re.compile(
    r"^(company\.domain|customer\.domain|domains\[\d+\]|expected_close_date|expires_at|occurred_at"
    r"|partner_id|deal_registration_id|referral_id)$"
)


def _body(response):
    try:
        return json.loads(response.content)
    except (ValueError, AttributeError):
        return {}


STORED_ROLE = ("PATCH", "/v1/admin/users/{id}")
REPORT_RANGES = {("GET", "/v1/reports/slas"), ("GET", "/v1/reports/pipeline")}


def _semantic(status, body, method="", path=""):
    if (status, body.get("code")) in STATEFUL_REFUSALS:
        return True
    errors = body.get("errors") or []
    return (
        status == 422
        and body.get("code") == "validation_failed"
        and bool(errors)
        and all(
            SEMANTIC_FIELDS.match(str(e.get("field", "")))
            or ((method, path) == STORED_ROLE and e.get("field") == "role")
            or ((method, path) in REPORT_RANGES and e.get("field") == "to")
            for e in errors
        )
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if type(failure).__name__ != "RejectedPositiveData" or response is None:
        return True
    return not _semantic(response.status_code, _body(response), case.method.upper(), case.path)
