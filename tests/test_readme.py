"""README's "Run it" works as written on a fresh clone: `bin/run` in a copy of the tree, then
every other command of that section in a second process, as a new user would type them.

The commands are read from README.md, not copied here; only the port is changed (bin/run
listens on a free one, and README's 127.0.0.1:8000 is rewritten to it)."""

import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
README_ADDRESS = "127.0.0.1:8000"
# Commands of the section this test does not run: bin/run is the server it starts itself,
# bin/test is the suite this test belongs to.
SERVER, SUITE = "bin/run", "bin/test"
# What a user's shell has and bin/setup needs (interpreter lookup, pip's index and cache;
# PYTHON, so that CI's run on each Python runs bin/run on it too); nothing the test settings
# put in the environment (DATABASE_URL, CELERY_BROKER_URL, DJANGO_SETTINGS_MODULE, the keys,
# VAR_DIR) reaches the copy.
PASSED_NAMES = {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TERM", "TMPDIR", "TZ"}
PASSED_NAMES |= {"PYTHON"}
PASSED_NAMES |= {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
PASSED_PREFIXES = ("LC_", "PIP_", "PYENV_")

pytestmark = pytest.mark.slow


def run_it_section(markdown: str) -> str:
    """README's "Run it" section, up to the next heading."""
    section = re.search(r"^## Run it\n(.*?)^#", markdown, re.DOTALL | re.MULTILINE)
    assert section, 'README.md has no "## Run it" section'
    return section.group(1)


def shell_blocks(section: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", section, re.DOTALL | re.MULTILINE)


def shell_commands(block: str) -> list[str]:
    """A block's commands, one per logical line (backslash continuations joined)."""
    return [c.strip() for c in re.sub(r"\\\n", " ", block).splitlines() if c.strip()]


def user_environment(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name in PASSED_NAMES or name.startswith(PASSED_PREFIXES)
    }
    return {**env, **extra}


def fresh_copy(destination: Path) -> Path:
    """The files a clone of the working tree would have (tracked, and new files not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() or source.is_symlink():  # a deletion not yet staged is skipped
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name, follow_symlinks=False)
    return destination


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def post_json(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_until_served(url: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"bin/run exited with {server.returncode}:\n{log.read_text()}")
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"bin/run did not serve {url} within {timeout:.0f} s:\n{log.read_text()}")


def stop_group(server: subprocess.Popen, timeout: float = 30) -> list[str]:
    """Stop bin/run as Ctrl-C does (SIGINT to its process group); what is still running
    after `timeout` is killed and returned."""
    try:
        os.killpg(server.pid, signal.SIGINT)
    except ProcessLookupError:
        return []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.poll()
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            return []
        time.sleep(0.2)
    left = subprocess.run(
        ["ps", "-o", "pid=,args=", "-s", str(server.pid)], capture_output=True, text=True
    ).stdout.splitlines()
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    return left


def test_it_runs_the_readme_commands_as_written(tmp_path):
    section = run_it_section((ROOT / "README.md").read_text())
    commands = [command for block in shell_blocks(section) for command in shell_commands(block)]
    first_words = [(shlex.split(command, comments=True) or [""])[0] for command in commands]
    assert SERVER in first_words, f"README's Run it section does not show {SERVER}"

    port = free_port()
    address = f"127.0.0.1:{port}"
    tree = fresh_copy(tmp_path / "clone")
    log = tmp_path / "bin-run.log"
    # SQLite and the filesystem broker: the defaults a fresh machine gets.
    env = user_environment(SERVICES="web worker beat watcher", BIND=address)
    assert not env.keys() & {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    with log.open("wb") as output:
        server = subprocess.Popen(
            [SERVER],
            cwd=tree,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole below
        )
    try:
        started = time.monotonic()
        wait_until_served(f"http://{address}/healthz", server, log, timeout=180)
        served_after = time.monotonic() - started
        assert (tree / "var" / "admin-password").is_file(), log.read_text()

        # Every other command, in order, in one second shell (so TOKEN=… carries over);
        # set -e stops at the first command that fails and the trap names it.
        others = [
            command.replace(README_ADDRESS, address)
            for command, first in zip(commands, first_words, strict=True)
            if first not in (SERVER, SUITE)
        ]
        assert others, "README's Run it section shows no command to run after bin/run"
        script = "\n".join(
            ["set -euo pipefail", "trap 'echo \"failed: $BASH_COMMAND\" >&2' ERR", *others]
        )
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=tree,
            env=user_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{result.stderr}\n{result.stdout}"

        # The curl's answer is the created trigger (a refusal would be an error body) …
        created = json.loads(result.stdout.strip().splitlines()[-1])
        assert created["id"] and created["name"] == "Digest", created
        assert created["custom_cron_expression"] == "0 9 * * 1-5", created
        # … and it is in the database bin/run serves from.
        with closing(sqlite3.connect(tree / "var" / "db.sqlite3")) as db:
            rows = db.execute("SELECT name FROM triggers_trigger").fetchall()
        assert rows == [("Digest",)]

        # A webhook trigger's URL is this machine's (PUBLIC_BASE_URL follows BIND when
        # unset), and a delivery to it is stored.
        token = subprocess.run(
            [".venv/bin/python", "manage.py", "create_api_token", "--username", "hooks",
             "--tenant", "acme"],
            cwd=tree, env=user_environment(), capture_output=True, text=True, check=True,
        ).stdout.splitlines()[-1]  # fmt: skip
        hook = post_json(
            f"http://{address}/api/triggers",
            {"name": "Hook", "trigger_type": "webhook"},
            token=token,
        )
        assert hook["webhook_url"].startswith(f"http://{address}/hooks/"), hook
        delivered = post_json(hook["webhook_url"], {"event": "readme"})
        assert delivered["execution_id"], delivered

        # The pages the section links to answer.
        for url in re.findall(r"<(http://127\.0\.0\.1:8000/[^>]*)>", section):
            status, _ = get(url.replace(README_ADDRESS, address))
            assert status == 200, url
        print(f"bin/run served after {served_after:.1f} s")
    finally:
        stopping = time.monotonic()
        left = stop_group(server)
        print(f"stopped after {time.monotonic() - stopping:.1f} s")
    assert not left, f"Ctrl-C left these running (killed now): {left}"
