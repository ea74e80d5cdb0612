"""``tevreden up``: the whole system on this machine with the portal, until Ctrl-C.

Runs the real command as a person would: it prints the portal's address and a first bureau
sign-in link; the link signs in; the mailbox page shows the sign-in emails the SMTP sink
received; Ctrl-C (SIGINT) stops everything and the command exits 0.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/aanmelden/link/([A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def printed_link(output: Path, process: subprocess.Popen[bytes], within: float = 360) -> re.Match[str]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = LINK.search(output.read_text())
        if found and "Ctrl-C" in output.read_text():
            return found
        assert process.poll() is None, output.read_text()
        time.sleep(0.5)
    raise TimeoutError(output.read_text())


def test_tevreden_up_prints_a_sign_in_link_that_works_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    output = tmp_path / "up.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tevreden", "up", "--workdir", str(tmp_path / "up")],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=os.environ | {"COLUMNS": "200"},
        )
    try:
        link = printed_link(output, process)
        portal, token = link.group(1), link.group(2)
        with httpx.Client(base_url=portal, follow_redirects=True, timeout=30) as http:
            confirm = http.get(f"/aanmelden/link/{token}")
            csrf = CSRF.search(confirm.text)
            assert csrf is not None
            home = http.post("/aanmelden/link", data={"csrf": csrf.group(1), "token": token})
            assert "U bent aangemeld." in home.text
            assert "Postvak" in home.text
            mailbox = http.get("/beheer/postvak")
            assert mailbox.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        exit_code = process.wait(timeout=120)
    assert exit_code == 0, output.read_text()
