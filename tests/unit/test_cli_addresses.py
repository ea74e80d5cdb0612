"""How the commands find a running system, look a person up by email, and sum up the demo."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from rich.console import Console

from services.invitations.domain import normalise_email
from shared.settings import Settings
from tevreden.demo import ProviderFigures, all_providers
from tevreden.portal_admin import wait_until_stopped
from tevreden.responses_cli import NoSingleInvitationError, one_invitation
from tevreden.stack import RunningStack, _service_env, find_services, running_stack

URLS = {
    s: f"http://127.0.0.1:{port}"
    for s, port in zip(
        ("invitations", "responses", "scoring", "reporting", "portal"),
        (41001, 41002, 41003, 41004, 41005),
        strict=True,
    )
}
SETTINGS = Settings(admin_api_key="from-settings", service_urls={"scoring": "http://scoring:8003"})


def test_a_stack_file_written_by_a_running_stack_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(RunningStack(URLS, "key", os.getpid()).to_json())
    assert running_stack(path) == RunningStack(URLS, "key", os.getpid())


def test_a_stack_file_left_behind_by_a_stopped_stack_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(RunningStack(URLS, "key", 2**22 + 12345).to_json())  # above any pid_max
    assert running_stack(path) is None


@pytest.mark.parametrize("text", ["", "{", '{"urls": {}}', '{"urls": [], "admin_api_key": 1, "pid": 1}'])
def test_a_damaged_stack_file_is_no_stack(tmp_path: Path, text: str) -> None:
    path = tmp_path / "stack.json"
    path.write_text(text)
    assert running_stack(path) is None


def test_no_stack_file_is_no_stack(tmp_path: Path) -> None:
    assert running_stack(tmp_path / "absent.json") is None


def test_a_running_local_stack_gives_every_address_and_its_admin_key() -> None:
    found = find_services(SETTINGS, local=RunningStack(URLS, "stack-key", 1))
    assert (found.urls, found.admin_api_key) == (URLS, "stack-key")


def test_options_given_win_over_the_local_stack() -> None:
    found = find_services(
        SETTINGS, named={"scoring": "http://elsewhere:9"}, api_key="mine", local=RunningStack(URLS, "k", 1)
    )
    assert found.urls["scoring"] == "http://elsewhere:9" and found.urls["invitations"] == URLS["invitations"]
    assert found.admin_api_key == "mine"


def test_a_host_means_every_service_on_its_default_port_there() -> None:
    found = find_services(SETTINGS, host="10.0.0.5")
    assert found.urls == {
        "invitations": "http://10.0.0.5:8001",
        "responses": "http://10.0.0.5:8002",
        "scoring": "http://10.0.0.5:8003",
        "reporting": "http://10.0.0.5:8004",
        "portal": "http://10.0.0.5:8005",
    }


def test_without_options_or_stack_the_settings_say_where_services_are() -> None:
    found = find_services(SETTINGS)
    assert found.urls["scoring"] == "http://scoring:8003"
    assert found.urls["reporting"] == "http://127.0.0.1:8004"
    assert found.admin_api_key == "from-settings" and found.local is None


def test_an_email_address_is_looked_up_as_intake_stores_it() -> None:
    assert normalise_email("  Anna.de.Vries@Example.NL ") == "anna.de.vries@example.nl"


def test_one_invitation_for_an_address_is_the_one_withdrawn() -> None:
    assert one_invitation("a@x.nl", [{"invitation_id": "id-1"}]) == "id-1"


def test_no_invitation_for_an_address_says_so() -> None:
    with pytest.raises(NoSingleInvitationError, match=r"No invitation was sent to a@x\.nl"):
        one_invitation("a@x.nl", [])


def test_several_invitations_for_an_address_are_listed_to_choose_from() -> None:
    found = [
        {"invitation_id": f"id-{n}", "study_id": "bow-2026", "provider_id": f"P{n}", "status": "sent"}
        for n in (1, 2)
    ]
    with pytest.raises(NoSingleInvitationError) as raised:
        one_invitation("a@x.nl", found)
    assert str(raised.value).splitlines() == [
        "2 invitations were sent to a@x.nl; withdraw each by its id:",
        "  id-1  study bow-2026, provider P1, sent",
        "  id-2  study bow-2026, provider P2, sent",
    ]


def test_the_demo_summary_mean_of_all_providers_weighs_each_client_once() -> None:
    total = all_providers([ProviderFigures("P1", 10, 2, 0.2, 6.0), ProviderFigures("P2", 30, 6, 0.2, 8.0)])
    assert total == ProviderFigures("All", 40, 8, 0.2, 7.5)


def test_the_demo_summary_of_no_answers_has_no_mean() -> None:
    assert all_providers([ProviderFigures("P1", 10, 0, 0.0, None)]).mean_grade is None


class _NoInfra:
    def env(self) -> dict[str, str]:
        return {}


def test_the_local_stack_tells_every_service_where_the_others_listen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ports = {"invitations": 41001, "responses": 41002, "scoring": 41003, "reporting": 41004}
    env = _service_env(_NoInfra(), ports, tmp_path, "key")  # type: ignore[arg-type]
    monkeypatch.setenv("TEVREDEN_SERVICE_URLS", env["TEVREDEN_SERVICE_URLS"])
    assert Settings().service_url("reporting") == "http://127.0.0.1:41004"


class _StubStack:
    def __init__(self) -> None:
        self.processes: dict[str, object] = {}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_demo_kept_running_stops_on_a_signal_even_in_the_background(signum: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell's background job inherits it
    threading.Timer(0.2, os.kill, (os.getpid(), signum)).start()
    try:
        assert wait_until_stopped(_StubStack(), Console(quiet=True)) == 0  # type: ignore[arg-type]
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
