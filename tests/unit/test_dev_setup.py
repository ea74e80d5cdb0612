"""dev.py's system set-up: which Debian packages are missing, and how they may be installed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev", Path(__file__).resolve().parents[2] / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dev"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


dev = _dev()


def _which(installed: set[str]):  # type: ignore[no-untyped-def]
    return lambda name: f"/usr/bin/{name}" if name in installed else None


def test_nothing_is_missing_when_every_command_and_library_is_there() -> None:
    found = dev.missing(
        dev.NEEDS_OF["test"],
        which=_which({"chromium", "espeak-ng", "pdftoppm"}),
        find_library=lambda name: f"lib{name}.so.0",
    )
    assert found == []


def test_a_missing_command_names_its_debian_package() -> None:
    found = dev.missing(dev.NEEDS_OF["test"], which=_which({"chromium"}), find_library=lambda name: name)
    assert found == ["espeak-ng", "poppler-utils"]


def test_a_missing_library_names_pango_and_a_font() -> None:
    found = dev.missing(dev.NEEDS_OF["demo"], which=_which(set()), find_library=lambda name: None)
    assert found == ["libpango-1.0-0", "libpangoft2-1.0-0", "fonts-dejavu-core"]


def test_the_demo_does_not_need_chromium_but_the_tests_do() -> None:
    assert dev.CHROMIUM not in dev.NEEDS_OF["demo"] and dev.CHROMIUM in dev.WANTS_OF["demo"]
    assert dev.CHROMIUM in dev.NEEDS_OF["test"]


def test_root_installs_with_apt_get_directly() -> None:
    update, install = dev.install_commands(["espeak-ng"], is_root=True, sudo_ok=False)
    assert update[-3:] == ["apt-get", "update", "-qq"]
    assert install[0] == "env" and install[-1] == "espeak-ng"


def test_a_user_with_passwordless_sudo_installs_with_sudo_without_a_prompt() -> None:
    commands = dev.install_commands(["espeak-ng"], is_root=False, sudo_ok=True)
    assert all(c[:2] == ["sudo", "-n"] for c in commands)


def test_a_user_without_sudo_is_told_what_to_run_and_stopped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dev, "missing", lambda needs: ["espeak-ng"] if needs else [])
    monkeypatch.setattr(dev, "_may_sudo", lambda: False)
    monkeypatch.setattr(dev.os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as stopped:
        dev.ensure_system([dev.ESPEAK])
    assert stopped.value.code == 1
    told = capsys.readouterr().err
    assert "sudo apt-get install -y espeak-ng" in told
    assert "spoken low-threshold questionnaires" in told
