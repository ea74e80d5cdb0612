#!/usr/bin/env python3
"""Bootstrap and run: ``python3 dev.py demo`` or ``python3 dev.py test``.

Needs only Python 3.11+. Creates ``.venv`` on first use, installs the project with
its pinned dependencies (``constraints.txt``), and reinstalls when they change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
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
    ensure_environment()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if command == "test":
        return test(extra)
    if command == "demo":
        return run([str(BIN / "tevreden"), "demo", *extra])
    if command == "tevreden":
        return run([str(BIN / "tevreden"), *extra])
    return 0


if __name__ == "__main__":
    sys.exit(main())
