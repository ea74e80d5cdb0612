"""A service outside the local environment refuses to start with a default or short secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.runtime import WeakSecretsError, refuse_weak_secrets
from shared.settings import Settings

STRONG = "x" * 32


def production_env(**secrets: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEVREDEN_")}
    # Nothing answers here: a service that got past the secrets check would fail on the database.
    env |= {"TEVREDEN_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "TEVREDEN_LOG_FORMAT": "console"}
    return env | secrets


@pytest.mark.parametrize("service", ["invitations", "responses", "scoring", "reporting"])
def test_a_service_with_the_default_secrets_refuses_to_start_and_names_each(service: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "tevreden", "run", service],
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    for variable in ("TEVREDEN_TOKEN_SECRET", "TEVREDEN_ADMIN_API_KEY", "TEVREDEN_CALLCENTRE_API_KEY"):
        assert f"{variable}: still the default" in finished.stderr


def test_a_short_secret_is_refused_outside_the_local_environment() -> None:
    settings = Settings(token_secret=STRONG, admin_api_key="short-but-mine", callcentre_api_key=STRONG)
    with pytest.raises(WeakSecretsError, match="TEVREDEN_ADMIN_API_KEY: shorter than 32 characters"):
        refuse_weak_secrets("responses", settings)


def test_long_random_secrets_are_accepted() -> None:
    refuse_weak_secrets(
        "responses", Settings(token_secret=STRONG, admin_api_key=STRONG, callcentre_api_key=STRONG)
    )


def test_the_local_environment_accepts_the_defaults() -> None:
    refuse_weak_secrets("responses", Settings(environment="local"))
