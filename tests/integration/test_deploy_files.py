"""The Dockerfile and docker-compose.yml, checked without a Docker engine: every variable they
give the service is one it reads, every command they run exists in the code (with flags its CLI
accepts), the image runs as a non-root user with a health check, and the compose ordering
(healthchecks, depends_on conditions, grace periods) holds together."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from dramatiq.cli import make_argument_parser
from flask.cli import FlaskGroup, ScriptInfo
from pydantic import AliasChoices

from payments.config import Settings

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "payments-service:latest"
INFRASTRUCTURE = {"postgres", "rabbitmq", "redis"}
# Python's and pip's own switches, read by the interpreter and the installer, not the service.
TOOL_VARIABLES = {
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


# --- reading the files -------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile(keyword: str) -> list[str]:
    return [arguments for name, arguments in dockerfile_instructions() if name == keyword]


def dockerfile_env() -> dict[str, str]:
    variables = {}
    for arguments in dockerfile("ENV"):
        for pair in shlex.split(arguments):
            name, _, value = pair.partition("=")
            variables[name] = value
    return variables


def exec_form(arguments: str) -> list[str]:
    return yaml.safe_load(arguments)  # a JSON array is YAML too


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def app_services(compose) -> dict[str, dict]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == IMAGE or "build" in service
    }


def service_command(compose, name) -> list[str]:
    service = compose["services"][name]
    command = service.get("command") or exec_form(dockerfile("CMD")[-1])
    return shlex.split(command) if isinstance(command, str) else command


# --- what the code offers ----------------------------------------------------------------


def settings_variables() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif alias:
            names.add(str(alias))
    return names


def gunicorn_variables() -> set[str]:
    return set(re.findall(r"GUNICORN_[A-Z_]+", (ROOT / "gunicorn.conf.py").read_text()))


def known_variables() -> set[str]:
    return settings_variables() | gunicorn_variables() | TOOL_VARIABLES


def module_defines(path: Path, name: str) -> bool:
    """True when the module assigns `name` at module level (inside try/if blocks included)."""

    def assigned(statements) -> bool:
        for node in statements:
            targets = getattr(node, "targets", [])
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == name for t in targets
            ):
                return True
            if isinstance(node, ast.Try | ast.If):
                handlers = [handler.body for handler in getattr(node, "handlers", [])]
                blocks = [node.body, node.orelse, getattr(node, "finalbody", []), *handlers]
                if any(assigned(block) for block in blocks):
                    return True
        return False

    return assigned(ast.parse(path.read_text()).body)


def check_command(app, argv: list[str]) -> None:
    """Fails unless `argv` is one of the service's processes, as SPEC's table names them."""
    program, args = argv[0], argv[1:]
    if program == "sh" and args[0] == "-c":
        for part in args[1].split("&&"):
            check_command(app, shlex.split(part))
    elif program == "gunicorn":
        module, _, attribute = args[0].partition(":")
        assert module_defines(ROOT / f"{module}.py", attribute), args[0]
        assert (ROOT / "gunicorn.conf.py").exists()
    elif program == "dramatiq":
        try:
            parsed = make_argument_parser().parse_args(args)
        except SystemExit:
            raise AssertionError(f"dramatiq does not accept {args}") from None
        assert parsed.broker == "tasks"
        assert (ROOT / "tasks" / "__init__.py").exists()
    elif program == "python" and args[:1] == ["-m"]:
        path = ROOT / (args[1].replace(".", "/") + ".py")
        if args[1] == "tasks.scheduler" and not path.exists():
            pytest.skip("tasks/scheduler.py is not in this branch yet (written by another part)")
        assert path.exists(), args[1]
    elif program == "flask":
        assert args[:2] == ["--app", "wsgi"], argv
        assert module_defines(ROOT / "wsgi.py", "app")
        check_flask_command(app, args[2:])
    else:
        raise AssertionError(f"unknown command {argv}")


def check_flask_command(app, words: list[str]) -> None:
    group = FlaskGroup(create_app=lambda: app)
    # FlaskGroup.get_command pushes an app context onto the click context; leaving the `with`
    # pops it (left pushed, every later request in this process would share its session).
    with click.Context(group, obj=ScriptInfo(create_app=lambda: app)) as context:
        command = group
        for word in [w for w in words if not w.startswith("-")]:
            if not isinstance(command, click.Group):
                break
            command = command.get_command(context, word)
            assert command is not None, f"flask command {' '.join(words)!r} does not exist"


# --- the Dockerfile ----------------------------------------------------------------------


def test_image_is_slim_python_311_with_dependencies_in_their_own_layer():
    assert dockerfile("FROM") == ["python:3.11-slim"]
    steps = [f"{name} {arguments}" for name, arguments in dockerfile_instructions()]
    copy_requirements = steps.index("COPY requirements.txt .")
    install = steps.index("RUN pip install -r requirements.txt")
    copy_code = steps.index("COPY . .")
    assert copy_requirements < install < copy_code


def test_image_runs_as_a_non_root_user():
    user = dockerfile("USER")[-1].split(":")[0]
    assert user not in ("root", "0"), user
    # USER comes after the last RUN: nothing runs as root once it is set.
    names = [name for name, _ in dockerfile_instructions()]
    assert names.index("USER") > max(i for i, name in enumerate(names) if name == "RUN")


def test_image_has_a_healthcheck_on_ping():
    (healthcheck,) = dockerfile("HEALTHCHECK")
    assert "CMD" in healthcheck
    assert "/api/v1/payments/ping" in healthcheck


def test_image_default_command_is_the_api(app):
    command = exec_form(dockerfile("CMD")[-1])
    assert command == ["gunicorn", "wsgi:app"]
    check_command(app, command)


def test_image_sets_only_variables_the_service_reads():
    unknown = set(dockerfile_env()) - known_variables()
    assert not unknown, f"the Dockerfile sets variables nothing reads: {unknown}"


def test_dockerignore_keeps_what_the_image_needs():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    needed = {"payments", "tasks", "seeds", "migrations", "wsgi.py", "gunicorn.conf.py"}
    assert not needed & ignored
    assert {".git", ".venv", ".env", "instance", "tests"} <= ignored


# --- docker-compose.yml ------------------------------------------------------------------


def test_compose_has_every_process(compose):
    assert set(compose["services"]) >= INFRASTRUCTURE | {
        "migrate",
        "api",
        "worker",
        "scheduler",
    }
    assert set(app_services(compose)) == {"migrate", "api", "worker", "scheduler"}


def test_compose_sets_only_variables_the_service_reads(compose):
    for name, service in app_services(compose).items():
        unknown = set(service.get("environment") or {}) - known_variables()
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"


def test_compose_commands_exist_in_the_code(app, compose):
    commands = {name: service_command(compose, name) for name in app_services(compose)}
    assert commands["api"] == ["gunicorn", "wsgi:app"]
    assert commands["worker"][:2] == ["dramatiq", "tasks"]
    assert commands["migrate"][-1] == "flask --app wsgi db upgrade && flask --app wsgi seed"
    for name in ("migrate", "api", "worker"):
        check_command(app, commands[name])


def test_compose_scheduler_runs_the_scheduler_module(app, compose):
    command = service_command(compose, "scheduler")
    assert command == ["python", "-m", "tasks.scheduler"]
    check_command(app, command)  # skips while tasks/scheduler.py is not merged in


def test_compose_starts_things_in_order(compose):
    services = compose["services"]
    for name in INFRASTRUCTURE:
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "worker", "scheduler"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "rabbitmq": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name
    assert services["migrate"]["restart"] == "no"


def test_compose_runs_two_schedulers_and_lets_workers_scale(compose):
    services = compose["services"]
    assert services["scheduler"]["deploy"]["replicas"] == 2
    # A fixed name or host port would stop `--scale worker=N`.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]
    port = dockerfile_env()["dramatiq_prom_port"]
    assert f":{port}/" in " ".join(services["worker"]["healthcheck"]["test"])


def test_compose_grace_periods_outlast_the_graceful_shutdowns(compose):
    graceful = re.search(
        r'"GUNICORN_GRACEFUL_TIMEOUT", (\d+)', (ROOT / "gunicorn.conf.py").read_text()
    )
    api_grace = int(compose["services"]["api"]["stop_grace_period"].removesuffix("s"))
    assert api_grace > int(graceful.group(1))
    worker_grace = int(compose["services"]["worker"]["stop_grace_period"].removesuffix("s"))
    assert worker_grace > Settings.model_fields["notify_timeout_seconds"].default


def test_compose_urls_name_services_of_the_stack(compose):
    environment = compose["x-app-environment"]
    for variable in ("PAYMENTS_DB_URL", "RABBITMQ_URL", "REDIS_URL"):
        host = re.search(r"@?([a-z]+):\d+", environment[variable].split("@")[-1]).group(1)
        assert host in compose["services"], (variable, host)
    assert environment["INTERNAL_WEBHOOK_SECRET"].startswith("${INTERNAL_WEBHOOK_SECRET:?")
