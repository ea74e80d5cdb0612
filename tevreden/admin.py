"""Admin tasks over the provider API: deliver a file for a provider, enrol a provider.

They talk HTTP to a running invitations service with the bureau's admin key, so they go
through exactly the checks a provider's own upload goes through.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Exit codes of `tevreden deliver`.
ACCEPTED, REFUSED, FAILED = 0, 1, 2


@dataclass(frozen=True)
class Target:
    base_url: str
    api_key: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": self.api_key}, timeout=600)


def deliver_file(target: Target, study_id: str, provider_id: str, path: Path, console: Console) -> int:
    """Upload a CSV or XLSX file for a provider; print the row report; the exit code."""
    content_type = XLSX_TYPE if path.suffix.lower() == ".xlsx" else "text/csv"
    try:
        with target.client() as http:
            response = http.post(
                f"/api/studies/{study_id}/deliveries",
                params={"provider_id": provider_id, "file_name": path.name},
                content=path.read_bytes(),
                headers={"Content-Type": content_type},
            )
    except httpx.HTTPError as exc:
        console.print(f"[red]Invitations service not reachable at {target.base_url}: {exc}[/]")
        return FAILED
    if response.status_code == 422:
        console.print(f"[bold red]Refused:[/] {error_detail(response)}")
        return REFUSED
    if response.status_code != 201:
        console.print(f"[red]{response.status_code}: {error_detail(response)}[/]")
        return FAILED
    print_receipt(console, response.json())
    return ACCEPTED


def print_receipt(console: Console, receipt: dict[str, Any]) -> None:
    console.print(
        f"Delivery {receipt['delivery_id']} ({receipt['file_format']}): {receipt['rows_total']} rows, "
        f"{receipt['rows_accepted']} invited, {receipt['rows_sampled_out']} sampled out, "
        f"{receipt['rows_rejected']} rejected."
    )
    if receipt["ignored_columns"]:
        console.print(f"Ignored columns: {', '.join(receipt['ignored_columns'])}")
    if receipt["problems"]:
        table = Table(title="Row report")
        for column in ("Row", "Column", "Kind", "Probleem", "Problem"):
            table.add_column(column, justify="right" if column == "Row" else "left")
        for p in receipt["problems"]:
            table.add_row(str(p["row"]), p["column"], p["kind"], p["problem_nl"], p["problem_en"])
        console.print(table)
    accounting = Table(title="Gross → net per service")
    names = ("gross", "duplicates", "missing_essential_data", "invalid", "sampled_out", "accepted")
    accounting.add_column("Service")
    accounting.add_column("Respondent")
    for name in names:
        accounting.add_column(name.replace("_", " "), justify="right")
    for a in receipt["accounting"]:
        accounting.add_row(a["service_code"], a["respondent_type"], *(str(a[n]) for n in names))
    console.print(accounting)


def enrol_provider(target: Target, study_id: str, body: dict[str, Any], console: Console) -> int:
    try:
        with target.client() as http:
            response = http.post(f"/api/studies/{study_id}/enrolments", json=body)
    except httpx.HTTPError as exc:
        console.print(f"[red]Invitations service not reachable at {target.base_url}: {exc}[/]")
        return FAILED
    if response.status_code != 201:
        console.print(f"[red]{response.status_code}: {error_detail(response)}[/]")
        return FAILED
    console.print_json(data=response.json())
    return ACCEPTED


def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    """``key=value`` options into a mapping."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise ValueError(f"{what}: expected key=value, got {value!r}")
        pairs[key] = rest
    return pairs


def error_detail(response: httpx.Response) -> str:
    """A service's error as one line: ``{"detail": "..."}``, or a 422's list as ``where: what; …``."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg', '')}" for item in detail
        )
    return str(detail)
