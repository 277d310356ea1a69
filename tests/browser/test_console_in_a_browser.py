"""The ops console in a real browser: Debian's chromium through chromium-driver (bin/setup dev
installs them), against a live server on the test database (docs/ops-console.md)."""

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.db.models import Count
from django.utils import timezone
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from accounts.choices import MembershipRole
from accounts.services import tenant_member_ensure
from alerts.models import AlertEpisode
from alerts.services import alerts_detect
from executions import heartbeats
from executions.models import Execution
from executions.services.firing import execution_fire
from tests.conftest import EngineProcess, purge_test_queue
from triggers import services as trigger_services
from triggers.models import Trigger

PASSWORD = "pw-for-browser-tests"
# Set to a folder to keep a screenshot of each page the tests visit (docs/img/ was made so).
SCREENSHOTS = os.environ.get("OPS_CONSOLE_SCREENSHOTS")


def _chrome() -> webdriver.Chrome:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail("chromium and chromedriver are needed: `bin/setup dev` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000"):  # fmt: skip
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.mark.slow
class OpsConsoleTests(StaticLiveServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.browser = _chrome()
        cls.browser.implicitly_wait(10)

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        super().tearDownClass()

    def setUp(self):
        self.acme = tenant_member_ensure(
            username="alice", tenant_id="acme", role=MembershipRole.OWNER
        )
        self.globex = tenant_member_ensure(
            username="charlie", tenant_id="globex", role=MembershipRole.OWNER
        )
        self.root = get_user_model().objects.create_superuser("root", password=PASSWORD)
        self.browser.delete_all_cookies()

    # -- helpers ---------------------------------------------------------------------------------

    def trigger(self, tenant, name: str, kind: str = "webhook", **fields) -> Trigger:
        return trigger_services.trigger_create(
            tenant=tenant.tenant, provider_id="builtin", provider_trigger_id=kind, name=name,
            created_by=tenant.user, **fields,
        )  # fmt: skip

    def execution(self, trigger: Trigger, status: str = "pending", **fields) -> Execution:
        execution = execution_fire(trigger=trigger, execution_type="webhook", **fields).execution
        if status != "pending":
            Execution.objects.filter(pk=execution.pk).update(
                status=status, completed_at=timezone.now(), error_message=f"{status} here"
            )
        return execution

    def open(self, path: str, shot: str | None = None) -> str:
        self.browser.get(self.live_server_url + path)
        if SCREENSHOTS and shot:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.browser.save_screenshot(str(Path(SCREENSHOTS) / f"{shot}.png"))
        return self.browser.page_source

    def log_in(self, username: str) -> None:
        self.open("/admin/login/?next=/admin/")
        self.browser.find_element(By.ID, "id_username").send_keys(username)
        self.browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
        self.browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        self.browser.find_element(By.ID, "ops-dashboard")  # waits for the home page

    def text(self, element_id: str) -> str:
        return self.browser.find_element(By.ID, element_id).text.strip()

    def wait_until(self, predicate, message: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                self.fail(message)
            time.sleep(0.2)

    # -- the tests -------------------------------------------------------------------------------

    def test_log_in_and_the_dashboard_numbers_match_the_database(self):
        hook = self.trigger(self.acme, "Hook")
        for status in ["completed"] * 3 + ["failed"] * 2 + ["cancelled", "pending", "pending"]:
            self.execution(hook, status)
        nightly = self.trigger(self.acme, "Nightly report", "cron", cron_expression="0 3 * * *")
        heartbeats.heartbeat(
            "scheduler",
            {"slot_lag_seconds": 0.012, "last_firing_at": "2026-12-07T07:10:00+00:00"},
            force=True,
        )

        self.log_in("root")
        if SCREENSHOTS:
            self.open("/admin/", shot="dashboard")

        counts = dict(
            Execution.objects.values("status").annotate(n=Count("*")).values_list("status", "n")
        )
        for status in ("pending", "running", "completed", "failed", "cancelled"):
            self.assertEqual(self.text(f"count-{status}"), str(counts.get(status, 0)), status)
        self.assertEqual(self.text("count-total"), str(Execution.objects.count()))
        self.assertEqual(self.text("failure-rate"), "40.0 %")  # 2 failed of 5 finished
        self.assertEqual(self.text("pending-count"), "2")
        self.assertIn("Nightly report", self.text("ops-next-fires"))
        self.assertIn(nightly.next_fire_at.strftime("%Y-%m-%d %H:%M"), self.text("ops-next-fires"))
        self.assertIn("0.012 s", self.text("slot-lag"))

    def test_unfreeze_a_failed_trigger(self):
        flaky = self.trigger(self.acme, "Flaky nightly", "cron", cron_expression="0 3 * * *")
        trigger_services.trigger_freeze(
            trigger_id=flaky.pk, reason="Frozen after 5 failures: timeout", at=timezone.now()
        )
        self.log_in("root")

        self.assertIn("Frozen after 5 failures: timeout", self.text(f"attention-{flaky.pk}"))
        self.browser.find_element(By.ID, f"unfreeze-{flaky.pk}").click()
        done = self.browser.find_element(By.CSS_SELECTOR, "ul.messagelist li").text
        self.browser.find_element(By.ID, "trigger-schedule")  # back on the trigger's page

        flaky.refresh_from_db()
        self.assertEqual((flaky.status, flaky.error_message), ("active", ""))
        self.assertIn("1 trigger(s) enabled.", done)
        self.assertIn("At 03:00, UTC", self.text("schedule-in-words"))
        if SCREENSHOTS:
            self.open(f"/admin/triggers/trigger/{flaky.pk}/change/", shot="trigger")

    def test_replay_one_failed_execution(self):
        hook = self.trigger(self.acme, "Hook")
        failed = self.execution(
            hook, "failed", input_data={"issue": 7}, request_payload={"body": {"issue": 7}}
        )
        self.log_in("root")

        self.open(f"/admin/executions/execution/{failed.pk}/change/", shot="execution")
        self.browser.find_element(By.ID, "replay-execution").click()
        done = self.browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text

        replay = Execution.objects.get(replay_of=failed)
        self.assertEqual(replay.input_data, {"issue": 7})
        self.assertEqual(replay.request_payload, {"body": {"issue": 7}})
        self.assertIn(f"Replayed as {replay.execution_id}.", done)
        self.assertIn(f"/admin/executions/execution/{replay.pk}/", self.browser.current_url)

    def test_bulk_replay_by_a_filter(self):
        purge_test_queue()
        worker = EngineProcess("worker", Path(self.tmp_dir()) / "worker.log")
        self.addCleanup(purge_test_queue)
        self.addCleanup(worker.stop)
        hook = self.trigger(self.acme, "Hook")
        failed = [self.execution(hook, "failed") for _ in range(3)]
        self.execution(hook, "completed")
        self.log_in("root")

        self.open("/admin/executions/execution/")
        self.browser.find_element(By.LINK_TEXT, "Failed").click()  # the status filter
        self.assertIn("status__exact=failed", self.browser.current_url)
        self.browser.find_element(By.ID, "action-toggle").click()
        Select(self.browser.find_element(By.NAME, "action")).select_by_value("replay_executions")
        self.browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
        self.assertIn("Replay 3 executions?", self.text("replay-count"))
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.browser.save_screenshot(str(Path(SCREENSHOTS) / "bulk-replay.png"))
        self.browser.find_element(By.ID, "confirm-replay").click()
        done = self.browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
        self.assertIn("Replaying 3 execution(s) in the background", done)

        self.wait_until(
            lambda: Execution.objects.filter(replay_of__isnull=False).count() == 3,
            f"the worker did not replay them:\n{worker.log()}",
        )
        replayed = set(
            Execution.objects.exclude(replay_of=None).values_list("replay_of", flat=True)
        )
        self.assertEqual(replayed, {e.pk for e in failed})

    def test_a_staff_user_of_tenant_a_never_sees_tenant_b(self):
        dave = tenant_member_ensure(username="dave", tenant_id="acme").user
        dave.is_staff = True
        dave.set_password(PASSWORD)
        dave.save()
        dave.user_permissions.set(Permission.objects.all())
        mine = self.trigger(self.acme, "acme-hook")
        theirs = self.trigger(self.globex, "globex-hook")
        trigger_services.trigger_freeze(
            trigger_id=theirs.pk, reason="globex boom", at=timezone.now()
        )
        self.execution(mine, "failed")
        theirs_run = self.execution(theirs, "failed", idempotency_key="globex-key")

        self.log_in("dave")
        pages = {
            "home": self.open("/admin/"),
            "triggers": self.open("/admin/triggers/trigger/"),
            "executions": self.open("/admin/executions/execution/"),
            "search": self.open("/admin/executions/execution/?q=globex-key"),
            "their trigger": self.open(f"/admin/triggers/trigger/{theirs.pk}/change/"),
            "their execution": self.open(f"/admin/executions/execution/{theirs_run.pk}/change/"),
        }

        self.assertIn("acme-hook", pages["triggers"])
        searched = pages.pop("search")  # the page repeats the search term, nothing else
        self.assertIn("0 executions", searched)
        self.assertFalse("globex" in searched.replace("globex-key", "").lower())
        for name, page in pages.items():
            self.assertFalse("globex" in page.lower(), f"the {name} page shows globex")
        self.open("/admin/")
        self.assertEqual(self.text("count-failed"), "1")  # acme's only

    def test_open_alerts_on_the_dashboard_link_to_their_subject(self):
        flaky = self.trigger(self.acme, "Flaky nightly", "cron", cron_expression="0 3 * * *")
        healed = self.trigger(self.acme, "Healed hook")
        for trigger in (flaky, healed):
            trigger_services.trigger_freeze(
                trigger_id=trigger.pk, reason=f"{trigger.name}: 5 failures", at=timezone.now()
            )
        alerts_detect()  # opens one episode each
        healed.refresh_from_db()
        trigger_services.trigger_enable(trigger=healed)
        alerts_detect()  # closes the healed one's
        flaky_episode = AlertEpisode.objects.get(closed_at=None)
        self.log_in("root")
        if SCREENSHOTS:
            self.open("/admin/", shot="open-alerts")

        shown = self.text("ops-open-alerts")
        self.assertIn("Trigger frozen as failed", shown)
        self.assertIn(f"Flaky nightly (#{flaky.pk}, acme)", shown)
        self.assertIn("Flaky nightly: 5 failures", shown)
        self.assertNotIn("Healed hook", shown)
        row = self.browser.find_element(By.ID, f"open-alert-{flaky_episode.pk}")
        row.find_element(By.LINK_TEXT, f"Flaky nightly (#{flaky.pk}, acme)").click()
        self.browser.find_element(By.ID, "trigger-schedule")  # the trigger's page
        self.assertTrue(
            self.browser.current_url.endswith(f"/admin/triggers/trigger/{flaky.pk}/change/")
        )

    # TransactionTestCase has no tmp_path: a folder of the test's own.
    def tmp_dir(self) -> str:
        folder = tempfile.mkdtemp(prefix="ops-console-")
        self.addCleanup(shutil.rmtree, folder, True)
        return folder
