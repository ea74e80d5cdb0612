"""docker-compose.yml and deploy/Dockerfile stay in step with the settings and the CLI.

No Docker engine runs where the tests run, so the compose file is checked by
reading it: every name it hands to the project (commands, ``TEVREDEN_*``
variables, ports, the Kafka address) must be one the code actually accepts.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import DEFAULT_HTTP_PORTS, SECRET_SETTINGS, Settings
from tevreden import cli

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICE_NAMES = [service.value for service in cli.Service]
ENV_PREFIX = "TEVREDEN_"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load resolves the anchors and `<<` merge keys, as Compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(container: dict[str, Any]) -> dict[str, str]:
    """A container's environment, whether written as a mapping or as a list."""
    env = container.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def project_containers(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The containers built from the project's own image (the migrations and the services)."""
    return {name: spec for name, spec in services.items() if "build" in spec}


def container_ports(container: dict[str, Any]) -> set[int]:
    """The container-side ports a service publishes (short or long syntax)."""
    ports: set[int] = set()
    for entry in container.get("ports", []):
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            target = str(entry).split("/")[0].rsplit(":", 1)[-1]
            ports.add(int(target))
    return ports


def cli_command_names() -> set[str]:
    # Typer names a command after its function, with dashes for underscores.
    return {
        cmd.name or cmd.callback.__name__.replace("_", "-")
        for cmd in cli.app.registered_commands
        if cmd.callback is not None
    }


def dockerfile_instruction(dockerfile: Path, instruction: str) -> str:
    """The arguments of the last ``instruction`` in ``dockerfile`` (continuations joined)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = [
        line.strip()[len(instruction) :].strip()
        for line in text.splitlines()
        if line.strip().upper().startswith(instruction + " ")
    ]
    assert found, f"{dockerfile} has no {instruction}"
    return found[-1]


def test_every_service_runs_under_a_name_the_cli_accepts(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SERVICE_NAMES:
        assert name in services, f"docker-compose.yml has no {name} service"
        assert services[name].get("command") == ["run", name], (
            f"{name}: command should be ['run', '{name}'], is {services[name].get('command')}"
        )


def test_every_project_container_command_is_a_real_cli_command(
    services: dict[str, dict[str, Any]],
) -> None:
    commands = cli_command_names()
    containers = project_containers(services)
    assert set(SERVICE_NAMES) <= set(containers), "the services must be built from the project"
    for name, spec in containers.items():
        command = spec.get("command")
        assert isinstance(command, list) and command, f"{name}: command should be a non-empty list"
        assert command[0] in commands, f"{name}: `tevreden {command[0]}` is not a CLI command"


def test_migrations_run_in_a_one_shot_container_before_every_service(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"].get("restart") == "no"
    for name in SERVICE_NAMES:
        depends_on = services[name].get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        assert depends_on.get("migrate", {}).get("condition") == "service_completed_successfully", (
            f"{name} must wait for the migrations to complete"
        )


def test_every_tevreden_environment_variable_is_a_setting(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, spec in services.items():
        for variable in environment(spec):
            if variable.startswith(ENV_PREFIX):
                field = variable.removeprefix(ENV_PREFIX).lower()
                assert field in Settings.model_fields, f"{name}: {variable} is not a setting"


def test_every_tevreden_variable_asked_of_the_operator_is_a_setting() -> None:
    # `${TEVREDEN_X...}` is read from the operator's shell or .env file.
    for variable in re.findall(r"\$\{(TEVREDEN_\w+?)(?::?[-?+][^}]*)?\}", COMPOSE_FILE.read_text()):
        field = variable.removeprefix(ENV_PREFIX).lower()
        assert field in Settings.model_fields, f"${{{variable}}} is not a setting"


def test_secrets_must_be_supplied_by_the_operator(
    services: dict[str, dict[str, Any]],
) -> None:
    # `${VAR:?message}` stops Compose when VAR is unset or empty: no default secret.
    for name in project_containers(services):
        env = environment(services[name])
        for variable in (f"{ENV_PREFIX}{name.upper()}" for name in SECRET_SETTINGS):
            assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]*\}}", env.get(variable, "")), (
                f"{name}: {variable} should be `${{{variable}:?...}}`"
            )


def test_no_project_container_runs_in_the_local_environment_that_accepts_default_secrets(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in project_containers(services):
        assert environment(services[name]).get("TEVREDEN_ENVIRONMENT", "production") == "production", name


def test_every_service_listens_on_its_default_port_and_publishes_it(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SERVICE_NAMES:
        env = environment(services[name])
        assert env.get("TEVREDEN_HTTP_PORT") == str(DEFAULT_HTTP_PORTS[name]), (
            f"{name}: TEVREDEN_HTTP_PORT should be {DEFAULT_HTTP_PORTS[name]}"
        )
        assert DEFAULT_HTTP_PORTS[name] in container_ports(services[name]), (
            f"{name}: port {DEFAULT_HTTP_PORTS[name]} is not published"
        )


def test_every_service_listens_on_all_interfaces_of_its_container(
    services: dict[str, dict[str, Any]],
) -> None:
    # The default, 127.0.0.1, would be unreachable through the published port.
    for name in SERVICE_NAMES:
        host = environment(services[name]).get("TEVREDEN_HTTP_HOST")
        assert host == "0.0.0.0", f"{name}: TEVREDEN_HTTP_HOST is {host}"  # noqa: S104


def test_every_service_healthcheck_probes_healthz_on_its_own_port(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SERVICE_NAMES:
        test = services[name].get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no healthcheck"
        probe = " ".join(test[1:])
        assert "/healthz" in probe, f"{name}: the healthcheck should request /healthz"
        port = str(DEFAULT_HTTP_PORTS[name])
        assert "TEVREDEN_HTTP_PORT" in probe or port in probe, (
            f"{name}: the healthcheck should probe port {port}"
        )


def test_reports_are_written_to_a_volume(services: dict[str, dict[str, Any]]) -> None:
    report_dir = environment(services["reporting"]).get("TEVREDEN_REPORT_DIR")
    assert report_dir, "reporting needs TEVREDEN_REPORT_DIR"
    mounts = [
        v["target"] if isinstance(v, dict) else str(v).split(":")[1]
        for v in services["reporting"].get("volumes", [])
    ]
    assert report_dir in mounts, f"{report_dir} is not a mounted volume"


def test_the_image_builds_from_a_dockerfile_whose_entrypoint_is_the_tevreden_script(
    services: dict[str, dict[str, Any]],
) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, spec in project_containers(services).items():
        build = spec["build"]
        dockerfile = ROOT / build["context"] / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        entrypoint = json.loads(dockerfile_instruction(dockerfile, "ENTRYPOINT"))
        assert entrypoint == ["tevreden"], f"ENTRYPOINT is {entrypoint}"
        assert entrypoint[0] in scripts, f"{entrypoint[0]} is not in [project.scripts]"


def test_the_image_exposes_every_service_port() -> None:
    exposed: set[int] = set()
    for spec in shlex.split(dockerfile_instruction(ROOT / "deploy" / "Dockerfile", "EXPOSE")):
        low, _, high = spec.split("/")[0].partition("-")
        exposed.update(range(int(low), int(high or low) + 1))
    assert set(DEFAULT_HTTP_PORTS.values()) <= exposed


def test_the_image_runs_as_a_non_root_user() -> None:
    user = dockerfile_instruction(ROOT / "deploy" / "Dockerfile", "USER").split(":")[0]
    assert user not in ("root", "0"), "the image must not run as root"


def test_kafka_runs_in_kraft_mode(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])
    roles = set(env.get("KAFKA_PROCESS_ROLES", "").split(","))
    assert roles == {"broker", "controller"}, f"KAFKA_PROCESS_ROLES is {roles}"
    # The apache/kafka image refuses to format KRaft storage without these.
    for variable in ("CLUSTER_ID", "KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS"):
        assert env.get(variable), f"kafka: {variable} is required in KRaft mode"


def test_services_bootstrap_from_kafkas_in_network_listener(
    services: dict[str, dict[str, Any]],
) -> None:
    advertised = environment(services["kafka"]).get("KAFKA_ADVERTISED_LISTENERS", "")
    # `NAME://host:port,...`: the addresses other containers reach, on the kafka service.
    in_network = {
        address
        for listener in advertised.split(",")
        if (address := listener.partition("://")[2]).rpartition(":")[0] == "kafka"
    }
    assert in_network, "kafka advertises no listener at the `kafka` host name"
    for name in SERVICE_NAMES:
        bootstrap = environment(services[name]).get("TEVREDEN_KAFKA_BOOTSTRAP_SERVERS", "")
        servers = {server.strip() for server in bootstrap.split(",") if server.strip()}
        assert servers, f"{name}: TEVREDEN_KAFKA_BOOTSTRAP_SERVERS is not set"
        assert servers <= in_network, f"{name}: bootstrap {servers} is not one of {in_network}"
