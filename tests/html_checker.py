"""The Nu Html Checker (vnu.jar), as ``python3 dev.py test`` installs it into ``.tools/``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / ".tools"
VNU_JAR = TOOLS / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
INSTALL = "npm install --no-save --prefix .tools vnu-jar@26.9.27"


def why_unavailable() -> str | None:
    """Why the checker cannot run here, or None when it can."""
    if shutil.which("java") is None:
        return "the Nu Html Checker needs Java (apt-get install default-jre-headless)"
    if not VNU_JAR.exists():
        return f"the Nu Html Checker is not installed: run `{INSTALL}` or `python3 dev.py test`"
    return None


def html_errors(files: list[Path]) -> list[str]:
    """Each error the checker finds in these files, as 'file:line: message'."""
    run = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--errors-only", "--format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    messages = json.loads(run.stderr or run.stdout)["messages"]
    return [f"{Path(m.get('url', '')).name}:{m.get('lastLine', '?')}: {m['message']}" for m in messages]
