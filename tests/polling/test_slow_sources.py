"""A source that answers its status line and then one header line every 0.3 s, forever: a
poll, the test samples of the provider API and the deprecated polling key each end at
POLLING_TIMEOUT_SECONDS with the reason, in their own way (a failed poll, a 502), and close
the connection — before, each read had the whole timeout, and a poll lasted as long as the
source went on."""

import time
from types import SimpleNamespace

import pytest

from polling import services
from polling.choices import PollStatus
from tests.dribbling import DribblingServer
from tests.polling.conftest import polling_state

ENDED_WITHIN = 5  # a 1 s deadline, with room; the source would go on for ever


@pytest.fixture
def dribbling_source(polling_settings):
    polling_settings.POLLING_TIMEOUT_SECONDS = 1
    server = DribblingServer(every=0.3)
    yield SimpleNamespace(kind="http", url=f"{server.url}/items", server=server)
    server.close()


def assert_cut_at_the_deadline(source, took: float) -> None:
    assert took < ENDED_WITHIN
    assert source.server.lines_sent >= 2  # it was answering, a line at a time
    assert source.server.client_gone.wait(ENDED_WITHIN), "the connection was left open"


def test_a_poll_of_a_dribbling_source_fails_at_the_deadline(dribbling_source, make_polling):
    trigger, _ = make_polling(dribbling_source)

    started = time.monotonic()
    report = services.trigger_poll(trigger_id=trigger.pk)
    took = time.monotonic() - started

    assert (report.status, report.result) == (
        PollStatus.FAILED, "The source did not answer within 1 s.",
    )  # fmt: skip
    trigger.refresh_from_db()
    state = polling_state(trigger)
    assert (state.last_status, state.failures) == (PollStatus.FAILED, 1)
    assert state.cursor is None
    assert_cut_at_the_deadline(dribbling_source, took)


def test_test_samples_of_a_dribbling_source_are_a_502_at_the_deadline(
    alice_client, dribbling_source, make_polling
):
    trigger, _ = make_polling(dribbling_source)

    started = time.monotonic()
    response = alice_client.get(f"/api/v0/project-triggers/{trigger.uuid}/test-samples")
    took = time.monotonic() - started

    assert response.status_code == 502, response.content
    assert response.json()["detail"] == "The source did not answer within 1 s."
    trigger.refresh_from_db()
    assert polling_state(trigger).failures == 0  # a look, not a poll
    assert_cut_at_the_deadline(dribbling_source, took)


def test_the_polling_key_of_a_dribbling_source_is_a_502_and_a_failed_poll(
    client, dribbling_source, make_polling
):
    trigger, key = make_polling(dribbling_source)

    started = time.monotonic()
    response = client.post(f"/organizations/acme/triggers/{trigger.uuid}/polling/key/{key}")
    took = time.monotonic() - started

    assert response.status_code == 502, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "did not answer within 1 s" in response.json()["detail"]
    trigger.refresh_from_db()
    state = polling_state(trigger)
    assert (state.last_status, state.failures) == (PollStatus.FAILED, 1)
    assert_cut_at_the_deadline(dribbling_source, took)
