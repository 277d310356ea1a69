"""The outbound exchange's one deadline (executions/runners/exchange.py), against a server on
127.0.0.1 that sends its status line and then a header line every 0.3 s forever: the
exchange, and each runner's call through it, ends at its deadline with the reason and closes
the connection — where per-operation timeouts alone would wait for as long as it dribbles."""

import socket
import threading
import time

import httpx
import pytest

from executions.choices import ExecutionStatus
from executions.runners.exchange import DeadlinePassed, send
from executions.services import firing, lifecycle
from tests.dribbling import DribblingServer

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# Far more than a 1 s deadline needs and far less than "as long as the server goes on".
ENDED_WITHIN = 5


@pytest.fixture
def dribbling():
    server = DribblingServer(every=0.3)
    yield server
    server.close()


@pytest.mark.parametrize("asking", [False, True], ids=["plain", "asking-abandoned"])
def test_a_server_dribbling_header_lines_is_cut_at_the_deadline(dribbling, asking):
    checks = {"abandoned": (lambda: False), "poll_seconds": 0.2} if asking else {}

    started = time.monotonic()
    with pytest.raises(DeadlinePassed, match="within 1 s"):
        send("GET", dribbling.url + "/feed", timeout=1, guarded=False, **checks)
    took = time.monotonic() - started

    assert 0.9 < took < ENDED_WITHIN
    assert dribbling.lines_sent >= 2  # it was answering, a line at a time, when it was cut
    assert dribbling.client_gone.wait(ENDED_WITHIN), "the connection was left open"


def test_the_deadline_is_an_httpx_timeout(dribbling):
    with pytest.raises(httpx.TimeoutException):
        send("POST", dribbling.url, content=b"{}", timeout=1, guarded=False)


def test_a_guarded_exchange_resolves_its_host_within_the_deadline(monkeypatch, settings):
    """A tenant's own DNS server that takes its time holds nothing past the deadline."""
    settings.ALLOW_PRIVATE_OUTBOUND = True
    release = threading.Event()
    resolve = socket.getaddrinfo

    def slow_resolver(host, *args, **kwargs):
        if host == "slow-dns.example":
            release.wait(30)
            raise socket.gaierror("gave up")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
    started = time.monotonic()
    try:
        with pytest.raises(DeadlinePassed):
            send("GET", "http://slow-dns.example/feed", timeout=1, guarded=True)
        took = time.monotonic() - started
    finally:
        release.set()

    assert 0.9 < took < ENDED_WITHIN


# -- the runners --------------------------------------------------------------------------------


@pytest.fixture
def manual_execution(acme, acme_agent, make_trigger):
    def make():
        trigger = make_trigger(acme, "cron", agent=acme_agent, max_retries=0)
        return firing.execution_create_test(trigger=trigger)

    return make


@pytest.mark.parametrize("runner", ["http", "http-own-url", "openai"])
def test_a_runner_whose_agent_dribbles_fails_the_attempt_at_its_deadline(
    runner, dribbling, settings, manual_execution, acme_agent
):
    settings.AGENT_RUNTIME_TIMEOUT_SECONDS = 1
    settings.EXECUTION_CANCEL_CHECK_SECONDS = 1
    settings.AGENT_RUNTIME_URL, settings.AGENT_RUNTIME_SIGNING_SECRET = dribbling.url, SECRET
    settings.OPENAI_BASE_URL, settings.OPENAI_DEFAULT_MODEL = dribbling.url, "m"
    settings.EXECUTION_RUNNER = runner.removesuffix("-own-url")
    if runner == "http-own-url":  # a tenant's URL: guarded, sent to the checked address
        settings.ALLOW_PRIVATE_OUTBOUND = True
        acme_agent.runner, acme_agent.runtime_url = "http", f"{dribbling.url}/own"
        acme_agent.save()
    execution = manual_execution()

    started = time.monotonic()
    failed = lifecycle.execution_run(execution_id=execution.execution_id)
    took = time.monotonic() - started

    assert failed.status == ExecutionStatus.FAILED
    assert failed.error_message.endswith("did not answer within 1 s.")
    assert took < ENDED_WITHIN
    assert dribbling.lines_sent >= 2
    assert dribbling.client_gone.wait(ENDED_WITHIN), "the connection was left open"
