"""Hostile and careless inputs against a fresh service: per case, the status, the time to the
answer and how much the process that handled it grew.

    .venv/bin/python bench/hostile_inputs.py

It builds its own database (``bench_hostile``), serves the app with gunicorn — one sync
worker, so the process that handles a request is known — with ``DEBUG`` off, and sends each
case as raw HTTP: the cases of issue 25 (app events across tenants, a source that dribbles its
headers, quadratic ``uniqueItems``, an exponential output transform, a trigger's uuid without
its token, raw surrogate bytes, 5,000-deep and 50,000-term JMESPath, dates at the calendar's
ends, ``/metrics`` without a token) and every body of bench/hostile_webhooks.py. While a
request is in flight the worker's RSS is sampled every 5 ms; "grew" is the peak minus the RSS
before. A case fails when it answers 5xx, takes longer than its bound (1 s; a dribbling
source: the poll deadline, ``POLLING_TIMEOUT_SECONDS`` = 1, plus 0.5 s), grows the worker by
more than 100 MB, or stores what it must not. Exits 1 when one fails; docs/api.md has the
last run.
"""

import contextlib
import hashlib
import hmac
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import hostile_webhooks
import psutil
from _shared import (
    ROOT,
    django_setup,
    environment,
    migrate,
    recreate_database,
    wait_until_serving,
)

DATABASE = "bench_hostile"
PORT = 8019
FEED_PORT = 8029
SLACK_SECRET = "bench-slack-secret"
GITHUB_SECRET = "bench-github-secret"
GROWTH_LIMIT_MB = 100
TIME_LIMIT_S = 1.0
POLL_DEADLINE_S = 1
LOG = "/tmp/bench_hostile_inputs.log"


ENV = environment(
    DATABASE,
    broker="redis://127.0.0.1:6379/12",
    log_level="ERROR",
    CELERY_QUEUE="bench-hostile",
    DEBUG="0",
    ALLOWED_HOSTS="127.0.0.1",
    PUBLIC_BASE_URL=f"http://127.0.0.1:{PORT}",
    SECURE_SSL_REDIRECT="0",
    SLACK_SIGNING_SECRET=SLACK_SECRET,
    GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
    ALLOW_PRIVATE_OUTBOUND="1",  # the dribbling source is on 127.0.0.1
    POLLING_TIMEOUT_SECONDS=str(POLL_DEADLINE_S),
)


# -- the service ---------------------------------------------------------------------------


def start_gunicorn() -> subprocess.Popen:
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{PORT}",
         "--workers", "1", "--timeout", "30", "--log-level", "error"],
        cwd=ROOT, env=ENV, start_new_session=True,
        stderr=open(LOG, "w"),  # noqa: SIM115 — the service's log, read after a failure
    )  # fmt: skip
    wait_until_serving(f"http://127.0.0.1:{PORT}/healthz", seconds=30, name="gunicorn")
    return server


def worker_pid(master: int) -> int | None:
    children = psutil.Process(master).children()
    return children[0].pid if children else None


def dribbling_source() -> None:
    """An HTTP source that sends its status line, then one header line every 0.2 s for up
    to 60 s, and never a body: a poll of it must end at the deadline."""
    listener = socket.create_server(("127.0.0.1", FEED_PORT))

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for n in range(300):
                time.sleep(0.2)
                conn.sendall(b"X-Slow-%d: 1\r\n" % n)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


# -- requests ------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    time_limit: float = TIME_LIMIT_S
    # The answers that are right (a 2xx/4xx that is not one of them is reported, not failed).
    expect: tuple[int, ...] = ()
    # After the answer: what must hold in the database (a message when it does not).
    check: object = None


def send(case: Case) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    try:
        connection.putrequest(case.method, case.path, skip_accept_encoding=True)
        headers = {"Content-Length": str(len(case.body)), **case.headers}
        for name, value in headers.items():
            connection.putheader(name, value.encode("latin-1"))
        connection.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.send(case.body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def measured(master: int, case: Case) -> tuple[int, bytes, float, float, float]:
    """(status, body, seconds, RSS before in MB, peak growth in MB)"""
    pid = worker_pid(master)
    process = psutil.Process(pid)
    before = process.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    status, body = send(case)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return status, body, elapsed, before / 2**20, (peak[0] - before) / 2**20


# -- the cases -----------------------------------------------------------------------------


def slack_signed(raw: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + raw
    digest = hmac.new(SLACK_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest}"}  # fmt: skip


def github_signed(raw: bytes, event: str) -> dict[str, str]:
    digest = hmac.new(GITHUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-GitHub-Event": event,
            "X-GitHub-Delivery": f"d-{time.time_ns()}",
            "X-Hub-Signature-256": f"sha256={digest}"}  # fmt: skip


def json_case(name, path, payload, token, method="POST", **extra) -> Case:
    return Case(
        name, path, json.dumps(payload).encode(), method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, **extra,
    )  # fmt: skip


def prepare() -> dict:
    """Two tenants with their triggers; the ids and tokens the cases need."""
    from accounts.models import Tenant
    from accounts.services import (
        agent_create,
        api_token_create,
        project_create,
        tenant_member_ensure,
    )
    from providers.services import project_trigger_create
    from triggers.services import trigger_create, trigger_enable

    alice = tenant_member_ensure(username="alice", tenant_id="acme")
    charlie = tenant_member_ensure(username="charlie", tenant_id="globex")
    acme, globex = Tenant.objects.get(pk="acme"), Tenant.objects.get(pk="globex")
    project_a = project_create(tenant=acme, name="A", public_id="a")
    project_b = project_create(tenant=globex, name="B", public_id="b")
    agent_create(tenant=acme, project=project_a, name="Agent", public_id="agent")

    def provider(project, provider_id, trigger_id, **config):
        trigger, key = project_trigger_create(
            project=project, provider_id=provider_id, trigger_id=trigger_id, trigger_config=config
        )
        return trigger_enable(trigger=trigger), key

    provider(project_a, "slack", "on_message", team_id="T_A")
    provider(project_b, "slack", "on_message")  # names no workspace
    provider(project_a, "github", "on_push", repository="orgA/private-repo")
    provider(project_b, "github", "on_push")  # no repository, no connection
    feed, feed_key = provider(
        project_a, "rss", "on_new_item", url=f"http://127.0.0.1:{FEED_PORT}/feed"
    )
    frontend = trigger_create(tenant=acme, provider_trigger_id="webhook", name="Frontend hook")
    return {
        "alice": api_token_create(membership=alice)[1],
        "charlie": api_token_create(membership=charlie)[1],
        "feed": str(feed.uuid),
        "feed_key": feed_key,
        "frontend_uuid": str(frontend.uuid),
        "frontend_token": frontend.webhook_endpoint.token,
    }


def executions_of(tenant_id: str) -> int:
    from executions.models import Execution

    return Execution.objects.filter(trigger__tenant_id=tenant_id).count()


def none_in(tenant_id: str):
    def check() -> str | None:
        found = executions_of(tenant_id)
        return f"{found} execution(s) stored in {tenant_id}" if found else None

    return check


def none_for(trigger_uuid: str):
    def check() -> str | None:
        from executions.models import Execution

        found = Execution.objects.filter(trigger__uuid=trigger_uuid).count()
        return f"{found} execution(s) stored for the trigger" if found else None

    return check


def cases(ids: dict) -> list[Case]:
    alice = ids["alice"]
    manage = "/manage/tenants/acme/projects/a/agents/agent/triggers"
    slack_event = json.dumps({
        "type": "event_callback", "team_id": "T_A", "event_id": "Ev1",
        "event": {"type": "message", "channel": "C1", "text": "A's private message"},
    }).encode()  # fmt: skip
    push = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "orgA/private-repo"},
                       "commits": [{"id": "abc", "message": "private"}]}).encode()  # fmt: skip
    surrogate = b'{"a": "\xed\xa0\x80"}'
    amplifier = "@" + " | [@,@] | to_string(@)" * 13
    return [
        Case("slack event of tenant A's workspace", "/v1/webhooks/slack", slack_event,
             slack_signed(slack_event), expect=(200,), check=none_in("globex")),
        Case("github push of orgA/private-repo", "/v1/webhooks/github", push,
             github_signed(push, "push"), expect=(200,), check=none_in("globex")),
        Case("test samples of a dribbling source",
             f"/api/v0/project-triggers/{ids['feed']}/test-samples", method="GET",
             headers={"Authorization": f"Bearer {alice}"},
             time_limit=POLL_DEADLINE_S + 0.5, expect=(502,)),
        Case("poll now of a dribbling source (key endpoint)",
             f"/organizations/acme/triggers/{ids['feed']}/polling/key/{ids['feed_key']}",
             b"{}", {"Content-Type": "application/json"},
             time_limit=POLL_DEADLINE_S + 0.5, expect=(502,)),
        json_case("save an inputSchema with uniqueItems", manage,
                  {"id": "unique", "name": "U", "inputSchema": {"type": "array",
                                                                "uniqueItems": True}}, alice),
        json_case("save a multiplying outputTransform", manage,
                  {"id": "amplify", "name": "A", "outputTransform": {"jmespath": amplifier}},
                  alice),
        json_case("save a 5,000-deep outputTransform", manage,
                  {"id": "deep", "name": "D",
                   "outputTransform": {"jmespath": "(" * 5000 + "a" + ")" * 5000}},
                  alice, expect=(400, 422)),
        json_case("save a 50,000-term || outputTransform", manage,
                  {"id": "wide", "name": "W",
                   "outputTransform": {"jmespath": " || ".join(["a"] * 50_000)}},
                  alice, expect=(400, 413, 422)),
        json_case("save a 5,000-deep items_path", "/projects/a/triggers",
                  {"provider_id": "http", "trigger_id": "on_new_json_item",
                   "trigger_config": {"url": "https://example.com/items.json",
                                      "items_path": "(" * 5000 + "a" + ")" * 5000}},
                  alice, expect=(400,)),
        json_case("schedule date 9999-12-31", "/api/triggers",
                  {"name": "Far", "trigger_type": "schedule", "custom_cron_expression": "0 9 * * *",
                   "config": {"date": "9999-12-31"}}, alice, expect=(400,)),
        json_case("schedule expirationDate 0001-01-01", "/api/triggers",
                  {"name": "Old", "trigger_type": "schedule", "custom_cron_expression": "0 9 * * *",
                   "config": {"expirationDate": "0001-01-01"}}, alice, expect=(400,)),
        Case("frontend trigger by its uuid, without its token",
             f"/v1/webhooks/{ids['frontend_uuid']}", b"{}",
             {"Content-Type": "application/json"}, expect=(404,),
             check=none_for(ids["frontend_uuid"])),
        Case("surrogate bytes to /hooks/<token>", f"/hooks/{ids['frontend_token']}", surrogate,
             {"Content-Type": "application/json"}, expect=(400,)),
        Case("surrogate bytes to /v1/webhooks/slack", "/v1/webhooks/slack", surrogate,
             slack_signed(surrogate), expect=(400,)),
        Case("/metrics without a token", "/metrics", method="GET", expect=(403, 404)),
    ]  # fmt: skip


def follow_ups(ids: dict, answers: dict[str, tuple[int, bytes]]) -> list[Case]:
    """Deliveries to the management triggers that were saved (a refusal on save is the fix)."""
    found = []
    if answers["save an inputSchema with uniqueItems"][0] == 201:
        url = json.loads(answers["save an inputSchema with uniqueItems"][1])["data"]["webhookUrl"]
        items = json.dumps([{"n": n, "k": "v"} for n in range(12_000)]).encode()
        found.append(Case("12,000 objects to uniqueItems", url.split(str(PORT), 1)[1], items,
                          {"Content-Type": "application/json"}))  # fmt: skip
    if answers["save a multiplying outputTransform"][0] == 201:
        url = json.loads(answers["save a multiplying outputTransform"][1])["data"]["webhookUrl"]
        for size in (10, 40):
            body = json.dumps({"text": "x" * (size * 1024)}).encode()
            found.append(Case(f"{size} KB to the multiplying transform",
                              url.split(str(PORT), 1)[1], body,
                              {"Content-Type": "application/json"}))  # fmt: skip
    token = ids["frontend_token"]
    for name, body, headers, query in hostile_webhooks.cases():
        path = f"/hooks/{token}" + (f"?{query}" if query else "")
        found.append(Case(f"hostile body: {name}", path, body, headers))
    return found


def run(master: int, batch: list[Case], answers: dict, failures: list[str]) -> None:
    for case in batch:
        status, body, elapsed, rss, grew = measured(master, case)
        answers[case.name] = (status, body)
        problems = []
        if status >= 500 and status not in case.expect:  # 502: the source failed, as told
            problems.append("5xx")
        if elapsed > case.time_limit:
            problems.append(f"slower than {case.time_limit} s")
        if grew > GROWTH_LIMIT_MB:
            problems.append(f"grew over {GROWTH_LIMIT_MB} MB")
        if case.expect and status not in case.expect:
            problems.append(f"expected {'/'.join(map(str, case.expect))}")
        if case.check is not None and (broken := case.check()):
            problems.append(broken)
        mark = "  FAIL: " + "; ".join(problems) if problems else ""
        print(f"{status:>6} {elapsed:>7.3f} {rss:>7.1f} {grew:>8.1f}  {case.name}{mark}")
        if problems:
            failures.append(case.name)


def main() -> int:
    recreate_database(DATABASE)
    migrate(ENV)
    django_setup(ENV)
    ids = prepare()
    dribbling_source()
    server = start_gunicorn()
    failures: list[str] = []
    answers: dict[str, tuple[int, bytes]] = {}
    print(f"{'status':>6} {'time s':>7} {'rss MB':>7} {'grew MB':>8}  case")
    try:
        run(server.pid, cases(ids), answers, failures)
        run(server.pid, follow_ups(ids, answers), answers, failures)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"(the service's log: {LOG})")
    print(f"{len(answers)} cases, {len(failures)} failed" + (f": {failures}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
