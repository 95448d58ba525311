"""A partner's webhook receiver on this machine, for trying webhooks on the dev stack.

    .venv/bin/python infra/devstack/webhook_receiver.py --port 9000 --secret whsec_… [--stack URL]

It listens on 127.0.0.1, verifies every delivery with the `standardwebhooks`
package (the signature, and the timestamp within five minutes of the stack's
clock, read from URL/_dev/clock, since the dev stack's clock can be moved), prints
one line per delivery and answers 204, or 401 when the signature does not verify.
Ctrl-C stops it.
"""

import argparse
import json
import threading
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks.webhooks as library
from standardwebhooks import Webhook, WebhookVerificationError

_real_datetime = library.datetime


class _StackTime(_real_datetime):
    """The library reads `datetime.now()`; here that is the stack's clock."""

    at = None

    @classmethod
    def now(cls, tz=None):
        return cls.at


library.datetime = _StackTime
_verifying = threading.Lock()


def stack_now(stack):
    with urllib.request.urlopen(f"{stack}/_dev/clock", timeout=5) as reply:
        now = json.load(reply)["now"]
    return _real_datetime.fromisoformat(now.replace("Z", "+00:00"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the port to listen on, on 127.0.0.1")
    parser.add_argument("--secret", required=True, help="the endpoint's signing secret (whsec_…)")
    parser.add_argument("--stack", default="http://127.0.0.1:3000", help="the dev stack, for its clock")
    args = parser.parse_args()
    webhook = Webhook(args.secret)

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            with _verifying:
                _StackTime.at = stack_now(args.stack)
                try:
                    message = webhook.verify(body, headers)
                    verdict = "verified"
                except WebhookVerificationError as refused:
                    message, verdict = None, f"refused: {refused}"
            if message is None:
                print(f"{headers.get('webhook-id', '?')} {verdict}", flush=True)
                self.send_response(401)
            else:
                subject = message.get("data", {})
                print(f"{headers['webhook-id']} {verdict} {message.get('type')} {json.dumps(subject)}", flush=True)
                self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    print(f"receiving webhooks on http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
