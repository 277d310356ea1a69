"""The frontend API's ``/api/alert-episodes``: the caller's tenant's episodes only (never
another tenant's, never the service's own), read-only, newest first, paged like every
frontend list, filtered by ``open`` and ``event``, errors in the frontend API's format."""

import pytest
from django.utils import timezone

from alerts import services
from alerts.api.frontend_filters import FrontendEpisodeFilterSet
from alerts.models import AlertEpisode
from triggers import services as trigger_services

LIST = "/api/alert-episodes"


@pytest.fixture
def episodes(acme, globex, make_episode):
    """acme: three (one closed, one about its queue); globex: one; the service: one."""
    return {
        "digest": make_episode(
            acme,
            "trigger:42",
            opened_minutes_ago=30,
            subject_label="Digest (#42, acme)",
            summary="Frozen after 5 consecutive failed executions",
        ),
        "queue": make_episode(
            acme, "tenant:acme", event="executions_waiting", opened_minutes_ago=20
        ),
        "closed": make_episode(acme, "trigger:7", opened_minutes_ago=10, closed=True),
        "globex": make_episode(globex, "trigger:99", opened_minutes_ago=5),
        "service": make_episode(None, "service:scheduler", opened_minutes_ago=1),
    }


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()]


def test_the_tenants_episodes_newest_first_never_anothers_nor_the_services(
    alice_client, charlie_client, episodes
):
    response = alice_client.get(LIST)

    assert _ids(response) == [episodes[k].pk for k in ("closed", "queue", "digest")]
    assert response["X-Total-Count"] == "3"
    assert _ids(charlie_client.get(LIST)) == [episodes["globex"].pk]


def test_an_episode_shows_what_when_and_whether_it_is_over(alice_client, episodes):
    digest = episodes["digest"]
    body = alice_client.get(f"{LIST}/{digest.pk}").json()

    assert body == {
        "id": digest.pk,
        "event": "trigger_failed",
        "subject": "trigger:42",
        "trigger_id": 42,
        "subject_label": "Digest (#42, acme)",
        "summary": "Frozen after 5 consecutive failed executions",
        "opened_at": digest.opened_at.isoformat().replace("+00:00", "Z"),
        "closed_at": None,
        "close_summary": None,
        "open": True,
    }
    closed = alice_client.get(f"{LIST}/{episodes['closed'].pk}").json()
    assert closed["open"] is False and closed["closed_at"].endswith("Z")
    assert closed["close_summary"] == "Recovered: the trigger is active again."
    queue = alice_client.get(f"{LIST}/{episodes['queue'].pk}").json()
    assert (queue["subject"], queue["trigger_id"]) == ("tenant:acme", None)


def test_another_tenants_episode_and_the_services_are_not_found(alice_client, episodes):
    for other in ("globex", "service"):
        response = alice_client.get(f"{LIST}/{episodes[other].pk}")

        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    assert alice_client.get(f"{LIST}/not-a-number").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("open=true", ["queue", "digest"]),
        ("open=false", ["closed"]),
        ("event=trigger_failed", ["closed", "digest"]),
        ("event=executions_waiting", ["queue"]),
        ("event=trigger_failed&open=true", ["digest"]),
        ("event=poll_stale", []),
    ],
)
def test_filters(alice_client, episodes, query, expected):
    assert _ids(alice_client.get(f"{LIST}?{query}")) == [episodes[k].pk for k in expected]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("open=yes", "open"),
        ("open=", "open"),
        ("event=scheduler_lost", "event"),  # the service's, never a tenant's
        ("event=nope", "event"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(alice_client, episodes, query, field):
    response = alice_client.get(f"{LIST}?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_paged_with_limit_and_offset(alice_client, acme, make_episode):
    made = [make_episode(acme, f"trigger:{n}", opened_minutes_ago=n) for n in range(5)]

    first = alice_client.get(f"{LIST}?limit=2")
    last = alice_client.get(f"{LIST}?limit=2&offset=4")

    assert _ids(first) == [made[0].pk, made[1].pk] and first["X-Total-Count"] == "5"
    assert _ids(last) == [made[4].pk]


def test_the_same_moment_is_ordered_by_id_newest_first(alice_client, acme, make_episode):
    older, newer = (make_episode(acme, f"trigger:{n}") for n in range(2))
    AlertEpisode.objects.filter(pk=newer.pk).update(opened_at=older.opened_at)

    assert _ids(alice_client.get(LIST)) == [newer.pk, older.pk]


def test_read_only_every_write_is_a_405(alice_client, episodes):
    one = f"{LIST}/{episodes['digest'].pk}"
    for method, path in [("post", LIST), ("put", one), ("patch", one), ("delete", one)]:
        response = getattr(alice_client, method)(path, {}, format="json")

        assert response.status_code == 405, (method, path)
        assert "detail" in response.json()
    assert AlertEpisode.objects.count() == len(episodes)


def test_a_viewer_may_read_them(bob_client, episodes):
    assert len(_ids(bob_client.get(LIST))) == 3


def test_no_credentials_no_episodes(client, episodes):
    response = client.get(LIST)

    assert response.status_code == 401 and "detail" in response.json()


def test_an_episode_the_detection_pass_opened_and_closed(alice_client, acme, make_trigger):
    trigger = make_trigger(acme, name="Digest")
    trigger_services.trigger_freeze(trigger_id=trigger.pk, reason="Frozen", at=timezone.now())
    services.alerts_detect()
    opened = alice_client.get(f"{LIST}?open=true").json()

    trigger.refresh_from_db()
    trigger_services.trigger_enable(trigger=trigger)
    services.alerts_detect()
    closed = alice_client.get(f"{LIST}?open=false").json()

    assert [(e["trigger_id"], e["subject_label"]) for e in opened] == [
        (trigger.pk, f"Digest (#{trigger.pk}, acme)")
    ]
    assert [(e["id"], e["open"]) for e in closed] == [(opened[0]["id"], False)]
    assert closed[0]["close_summary"] == "Recovered: the trigger is active again."


def test_the_filterset_on_its_own(acme, make_episode):
    make_episode(acme, "trigger:1")
    make_episode(acme, "trigger:2", closed=True)
    make_episode(acme, "tenant:acme", event="executions_waiting")
    episodes = AlertEpisode.objects.all()

    def count(params):
        return FrontendEpisodeFilterSet(params, episodes).qs.count()

    assert count({"open": "true"}) == 2 and count({"open": "false"}) == 1
    assert count({"event": "executions_waiting", "open": "true"}) == 1
    assert not FrontendEpisodeFilterSet({"open": "1"}, episodes).is_valid()
