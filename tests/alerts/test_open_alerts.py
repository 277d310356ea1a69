"""The dashboard's "Open alerts" (alerts/selectors.py ``open_alerts``, the ``{% open_alerts %}``
module on the admin's home): the open episodes the viewer may see, as the admin scopes them —
a tenant's staff their tenants', the service's own (no tenant) a superuser's alone — newest
first, capped with a link to the rest."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.admin_scope import visible_tenant_ids
from accounts.services import tenant_member_ensure
from alerts import selectors


@pytest.fixture
def episodes(acme, globex, make_episode):
    """acme: an open and a closed one; globex: an open one; the service: an open one."""
    return {
        "acme_open": make_episode(acme, "trigger:1", opened_minutes_ago=10),
        "acme_closed": make_episode(acme, "trigger:2", opened_minutes_ago=5, closed=True),
        "globex_open": make_episode(globex, "trigger:3", opened_minutes_ago=3),
        "service_open": make_episode(None, "service:scheduler", opened_minutes_ago=1),
    }


def _shown(tenant_ids) -> list[str]:
    return [episode.subject for episode in selectors.open_alerts(tenant_ids=tenant_ids).episodes]


def test_a_superuser_sees_every_open_episode_newest_first(episodes):
    assert _shown(None) == ["service:scheduler", "trigger:3", "trigger:1"]


def test_a_tenants_staff_see_their_tenants_open_episodes_only(episodes, dave):
    assert _shown(visible_tenant_ids(dave.user)) == ["trigger:1"]


def test_staff_of_two_tenants_see_both_and_never_the_services(episodes, dave, globex):
    tenant_member_ensure(username="dave", tenant_id="globex")

    assert _shown(visible_tenant_ids(dave.user)) == ["trigger:3", "trigger:1"]


def test_another_tenants_member_sees_theirs_and_a_user_of_no_tenant_none(episodes, globex):
    charlie = globex.memberships.get().user
    nobody = get_user_model().objects.create_user("erin", is_staff=True)

    assert _shown(visible_tenant_ids(charlie)) == ["trigger:3"]
    assert _shown(visible_tenant_ids(nobody)) == []


def test_the_newest_are_shown_and_more_says_there_are_others(acme, make_episode):
    for n in range(4):
        make_episode(acme, f"trigger:{n}", opened_minutes_ago=n)

    found = selectors.open_alerts(tenant_ids=None, shown=3)

    assert [e.subject for e in found.episodes] == ["trigger:0", "trigger:1", "trigger:2"]
    assert found.more is True
    assert selectors.open_alerts(tenant_ids=None, shown=4).more is False


def test_one_query_whatever_the_number_of_episodes(acme, make_episode):
    for n in range(30):
        make_episode(acme, f"trigger:{n}")

    with CaptureQueriesContext(connection) as captured:
        found = selectors.open_alerts(tenant_ids=["acme"])

    assert len(found.episodes) == selectors.OPEN_ALERTS_SHOWN and found.more
    assert len(captured.captured_queries) == 1


# -- the module on the admin's home ------------------------------------------------------------


def test_the_home_lists_them_with_a_link_to_each_subject(root, acme, make_episode):
    episode = make_episode(
        acme, "trigger:42", subject_label="Digest (#42, acme)",
        admin_path="/admin/triggers/trigger/42/change/", summary="Frozen after 5 failures",
        opened_minutes_ago=90,
    )  # fmt: skip
    make_episode(acme, "trigger:43", subject_label="Old one (#43, acme)", closed=True)

    page = root.get(reverse("admin:index")).content.decode()

    module = page.split('id="ops-open-alerts"', 1)[1].split("</table>", 1)[0]
    assert f'id="open-alert-{episode.pk}"' in module
    assert '<a href="/admin/triggers/trigger/42/change/">Digest (#42, acme)</a>' in module
    assert "Trigger frozen as failed" in module and "Frozen after 5 failures" in module
    assert "for 1\xa0hour, 30\xa0minutes" in module
    assert "Old one" not in module and "None." not in module


def test_the_home_says_none_when_nothing_is_open(root, acme, make_episode):
    make_episode(acme, "trigger:43", closed=True)

    page = root.get(reverse("admin:index")).content.decode()

    module = page.split('id="ops-open-alerts"', 1)[1].split("</table>", 1)[0]
    assert "None." in module


def test_the_home_links_to_every_open_alert_past_the_cap(root, acme, make_episode):
    for n in range(selectors.OPEN_ALERTS_SHOWN + 1):
        make_episode(acme, f"trigger:{n}")

    page = root.get(reverse("admin:index")).content.decode()
    changelist = reverse("admin:alerts_alertepisode_changelist") + "?closed_at__isempty=1"

    assert page.count('id="open-alert-') == selectors.OPEN_ALERTS_SHOWN
    assert f'href="{changelist}"' in page
    listed = root.get(changelist).content.decode()
    assert "21 alert episodes" in listed


def test_staff_see_only_their_tenants_on_the_home(dave, episodes):
    page = dave.get(reverse("admin:index")).content.decode()

    assert f'id="open-alert-{episodes["acme_open"].pk}"' in page
    for other in ("globex_open", "service_open", "acme_closed"):
        assert f'id="open-alert-{episodes[other].pk}"' not in page, other


def test_staff_without_the_episodes_permission_get_no_module(dave, episodes):
    dave.user.user_permissions.remove(
        *Permission.objects.filter(codename__in=["view_alertepisode", "change_alertepisode"])
    )

    page = dave.get(reverse("admin:index")).content.decode()

    assert 'id="ops-open-alerts"' not in page
    assert 'id="ops-dashboard"' in page
