"""A partner's webhook receiver for the end-to-end tests, verifying every
delivery with the official `standardwebhooks` package as a receiver would.

It listens on 127.0.0.1 (port printed on the first line of stdout) and keeps
every delivery it received. `POST /_control` sets, as JSON:
  secrets     the endpoint secrets to verify with, by name
  answers     per path, the statuses to answer in order (then 200)
  slow        per path, seconds to wait before answering
  clock_url   the stack's GET /_dev/clock: "now" for timestamp checks is the
              stack's clock, as a receiver's would be the real one
`GET /_deliveries` answers what was received, each with:
  verified    per secret name, true or the library's error
  tampered    the library's verdict on the body with one byte changed
  stale       its verdict on the same delivery verified 10 minutes later
  seq, done   the order deliveries arrived in and their answers left in
"""

import json
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks.webhooks as library
from standardwebhooks import Webhook, WebhookVerificationError

_real_datetime = library.datetime


class _StackTime(_real_datetime):
    """The library reads `datetime.now()`; here that is the stack's clock."""

    frozen = None

    @classmethod
    def now(cls, tz=None):
        return cls.frozen


library.datetime = _StackTime
_verify_lock = threading.Lock()
_state_lock = threading.Lock()
state = {"secrets": {}, "answers": {}, "slow": {}, "clock_url": None, "deliveries": [], "seq": 0}


def stack_now():
    url = state["clock_url"]
    if not url:
        return _real_datetime.now(tz=timezone.utc)
    with urllib.request.urlopen(url, timeout=5) as r:
        now = json.load(r)["now"]
    return _real_datetime.fromisoformat(now.replace("Z", "+00:00"))


def verdict(secret, body, headers, at):
    with _verify_lock:
        _StackTime.frozen = at
        try:
            Webhook(secret).verify(body, headers)
            return True
        except WebhookVerificationError as e:
            return str(e)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_deliveries":
            with _state_lock:
                return self._json(200, state["deliveries"])
        self._json(404, {})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/_control":
            with _state_lock:
                state.update(json.loads(raw))
            return self._json(200, {"ok": True})
        body = raw.decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        now = stack_now()
        with _state_lock:
            state["seq"] += 1
            seq = state["seq"]
            secrets = dict(state["secrets"])
            answers = state["answers"].get(self.path, [])
            status = answers.pop(0) if answers else 200
            slow = state["slow"].get(self.path, 0)
        record = {
            "seq": seq,
            "path": self.path,
            "headers": {k: headers.get(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type")},
            "body": body,
            "answered": status,
            "verified": {name: verdict(s, body, headers, now) for name, s in secrets.items()},
            "tampered": {name: verdict(s, body[:-1] + " ", headers, now) for name, s in secrets.items()},
            "stale": {name: verdict(s, body, headers, now + timedelta(minutes=10)) for name, s in secrets.items()},
        }
        if slow:
            time.sleep(slow)
        with _state_lock:
            state["seq"] += 1
            record["done"] = state["seq"]
            state["deliveries"].append(record)
        if 300 <= status < 400:
            # A redirect to another path of this receiver: a client that
            # followed it would show up there.
            self.send_response(status)
            self.send_header("location", self.path + "/followed")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self._json(status, {"received": headers.get("webhook-id")})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    sys.stdout.flush()
    server.serve_forever()
