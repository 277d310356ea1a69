"""An agent runtime that answers asynchronously (docs/runners.md, "Asynchronous results").

It verifies each run request's Standard Webhooks signature, answers 202
``{"status": "accepted"}`` at once, "works" for ``--delay`` seconds — posting a signed
heartbeat every ``--heartbeat`` seconds, and stopping when one answers 409 (the execution was
cancelled or is over) — then posts its signed result to
``{PUBLIC_BASE_URL}/api/executions/<execution_id>/result``. The standard library and the
``standardwebhooks`` package are all it needs:

    pip install standardwebhooks
    AGENT_RUNTIME_SIGNING_SECRET=whsec_... PUBLIC_BASE_URL=http://127.0.0.1:8000 \\
        python docs/examples/async_runtime.py --port 9000 --delay 10

and run the service with ``AGENT_RUNTIME_URL=http://127.0.0.1:9000/run`` and the same
``AGENT_RUNTIME_SIGNING_SECRET``.
"""

import argparse
import json
import os
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = os.environ["AGENT_RUNTIME_SIGNING_SECRET"]
SERVICE = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")


def post_signed(path: str, payload: dict, message_id: str) -> int:
    """POST ``payload`` to the service, signed, with ``message_id`` as its ``webhook-id``;
    the status code."""
    body = json.dumps(payload).encode()
    now = datetime.now(tz=UTC)
    request = urllib.request.Request(
        f"{SERVICE}{path}",
        data=body,
        method="POST",
        headers={
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(SECRET).sign(message_id, now, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as refused:  # 4xx: a problem+json body says why
        print(f"{path}: {refused.code} {refused.read().decode(errors='replace')}", flush=True)
        return refused.code


def work(run: dict, run_id: str, delay: float, heartbeat: float) -> None:
    """The agent's work, after the 202: heartbeats while it lasts, then the result. What it
    posts is named by the run request's own ``webhook-id`` (``run_id``,
    ``<execution_id>.<attempt>``: the attempt it answers) followed by what it is."""
    base = f"/api/executions/{run['execution_id']}"
    done_at = time.monotonic() + delay
    while (left := done_at - time.monotonic()) > 0:
        time.sleep(min(heartbeat, left))
        if (
            time.monotonic() < done_at
            and post_signed(f"{base}/heartbeat", {}, f"{run_id}.heartbeat") == 409
        ):
            print(f"{run['execution_id']}: no longer wanted, stopping", flush=True)
            return
    result = {
        "output": {"echo": run["task_prompt"]},
        "tokens_used": 0,
        "tools_executed": [],
        "conversation_id": f"example-{run['execution_id']}",
    }
    # On failure, post {"error": "what went wrong"} instead: the attempt fails and is retried.
    status = post_signed(f"{base}/result", result, f"{run_id}.result")
    print(f"{run['execution_id']}: result posted, {status}", flush=True)


def serve(host: str, port: int, delay: float, heartbeat: float) -> None:
    class Runtime(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                Webhook(SECRET).verify(body, dict(self.headers.items()), json_parse=False)
            except WebhookVerificationError:
                self.answer(401, {"error": "bad signature"})
                return
            run = json.loads(body)
            self.answer(202, {"status": "accepted"})
            run_id = self.headers["webhook-id"]
            threading.Thread(target=work, args=(run, run_id, delay, heartbeat)).start()

        def answer(self, status: int, payload: dict) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer((host, port), Runtime)
    print(f"listening on http://{host}:{server.server_port}/run", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0: any free port")
    parser.add_argument("--delay", type=float, default=5.0, help="seconds the work takes")
    parser.add_argument("--heartbeat", type=float, default=60.0, help="seconds between beats")
    options = parser.parse_args()
    serve(options.host, options.port, options.delay, options.heartbeat)
