"""docker-compose.yml runs production (issue 21): every setting reaches the process that reads it,
Temporal is set up as its own tools do, and nothing is published that should not be. Checked with
`docker-compose config` (Debian's docker-compose 1.29; no Docker engine runs here) against the
settings classes through deploy/environment.py, never against a hand-written list."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Literal, get_args, get_origin

import pytest
import yaml
from pydantic import AliasChoices, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities import PROVIDERS, IntegrationSettings
from connection.temporal import TemporalSettings
from deploy.environment import (
    COMPOSE_SERVICES,
    NOT_PASSED,
    PROCESSES,
    env_names,
    paging_key_references,
    policy_references,
    variables,
)
from devstack.devserver import UPDATE_PAYLOAD_LIMIT  # the dev server's, issue 20
from plan import Role, load_policy
from tests.helpers import page_paths
from tests.rooms import product_sources
from webhook.app import KNOWN_PATHS
from webhook.slack import SlackAppSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-password",
    "IRP_WEBHOOK_TOKEN": "webhook-token",
    "IRP_PUBLIC_HOST": "irp.example.com",
}
INTERPOLATED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def render(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`docker-compose config` with `env` as the .env file, and nothing of this process's environment
    that compose would read."""
    binary = shutil.which("docker-compose")
    if not binary:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's docker-compose)")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return subprocess.run(
        [binary, "-f", str(COMPOSE), "--env-file", str(env_file), "config"],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )


def services(env: dict[str, str], tmp_path: Path) -> dict:
    done = render(env, tmp_path)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


def sample(name: str, field: FieldInfo | None) -> str:
    """A value pydantic-settings parses for the field, distinct per variable and from the default."""
    kind = str(field.annotation if field else "")
    if get_origin(field.annotation if field else None) is Literal:
        return next(str(v) for v in get_args(field.annotation) if v != field.default)
    if "bool" in kind:
        return "false" if field.default is True else "true"
    if "int" in kind:
        return "2525"
    if "Path" in kind:
        return f"/etc/irp/tls/{name.lower()}.pem"
    if kind.startswith("dict"):  # a JSON object (JIRA_FIELDS)
        return f'{{"value-of-{name.lower()}": "x"}}'
    return f"value-of-{name.lower()}"


def everything() -> dict[str, str]:
    """A sample value for every variable a compose service's processes read, and the required ones."""
    env = dict(REQUIRED)
    for processes in COMPOSE_SERVICES.values():
        for process in processes:
            fields = {
                env_names(cls)[n]: f
                for cls in PROCESSES[process].settings
                for n, f in cls.model_fields.items()
            }
            env |= {name: sample(name, fields.get(name)) for name in variables(process)}
    return env


def loaded(cls: type[BaseSettings], environment: dict[str, str], monkeypatch) -> BaseSettings:
    """The settings as the process in that container builds them: from its environment alone."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    return cls()


# -- the settings classes' variables -----------------------------------------------------------------


class _Prefixed(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="irp_x_")
    plain: str = "d"
    aliased: str = Field("d", validation_alias="OTHER_NAME")
    choices: str = Field("d", validation_alias=AliasChoices("FIRST_CHOICE", "second_choice"))


def test_variable_names_honour_prefixes_and_aliases():
    assert env_names(_Prefixed) == {
        "plain": "IRP_X_PLAIN",
        "aliased": "OTHER_NAME",
        "choices": "FIRST_CHOICE",
    }


@pytest.mark.parametrize(
    "cls", sorted({c for p in PROCESSES.values() for c in p.settings}, key=lambda c: c.__name__)
)
def test_each_derived_name_is_the_one_pydantic_settings_reads(cls, monkeypatch):
    """Set every derived variable: every field changes from its default (a wrong name would not)."""
    names = env_names(cls)
    values = {env: sample(env, cls.model_fields[field]) for field, env in names.items()}
    settings = loaded(cls, values, monkeypatch)
    for field, env in names.items():
        got = getattr(settings, field)
        got = got.get_secret_value() if isinstance(got, SecretStr) else got
        assert got not in (None, cls.model_fields[field].default), (
            f"{cls.__name__}.{field} not read from {env}"
        )


def test_every_variable_the_code_reads_belongs_to_a_process():
    """A new os.environ read (or a script's ${VAR}) must be given to the process that reads it in
    deploy/environment.py, or named in NOT_PASSED with the reason."""
    sources = product_sources()
    read = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv"):
                read |= {a.value for a in node.args[:1] if isinstance(a, ast.Constant)}
            if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                read |= {node.slice.value} if isinstance(node.slice, ast.Constant) else set()
    for script in (ROOT / "scripts").glob("*.sh"):
        read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", script.read_text()))
    assert {"IRP_POLICY_FILE", "IRP_LOG_FORMAT", "IRP_K8S_NAMESPACE", "IRP_DRILL"} <= read  # the scan reads
    declared = set().union(*(p.variables for p in PROCESSES.values()))
    assert read - declared - set(NOT_PASSED) == set()


# -- every setting reaches its process ----------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(COMPOSE_SERVICES))
def test_every_variable_reaches_the_service_that_reads_it(service, tmp_path):
    env = everything()
    given = services(env, tmp_path)[service]["environment"]
    for process in COMPOSE_SERVICES[service]:
        missing = variables(process) - set(given) - set(NOT_PASSED)
        assert not missing, f"docker-compose.yml does not pass {sorted(missing)} to {service} ({process})"
    assert not set(NOT_PASSED) & set(given), "a variable NOT_PASSED reaches a container"
    # A secret goes only where it is read: the receiver's never reach the worker and back.
    others = set().union(*(variables(p) for s, ps in COMPOSE_SERVICES.items() if s != service for p in ps))
    own = set().union(*(variables(p) for p in COMPOSE_SERVICES[service]))
    assert not (set(given) & others) - own, f"{service} gets variables it never reads"


@pytest.mark.parametrize("service", sorted(COMPOSE_SERVICES))
def test_each_process_builds_its_settings_from_what_compose_gives_it(service, tmp_path, monkeypatch):
    """With every variable in .env, each field of each class holds the .env's value; a variable
    compose fixes (IRP_LOG_FORMAT=json) is set too."""
    env = everything()
    given = services(env, tmp_path)[service]["environment"]
    for process in COMPOSE_SERVICES[service]:
        for cls in PROCESSES[process].settings:
            settings = loaded(cls, given, monkeypatch)
            for field, name in env_names(cls).items():
                if name in NOT_PASSED:  # the image's own (IRP_BUILD_ID), not the .env's
                    continue
                got = getattr(settings, field)
                got = got.get_secret_value() if isinstance(got, SecretStr) else got
                if isinstance(got, dict | list):  # read from JSON (JIRA_FIELDS) or a comma list
                    got = json.dumps(got) if isinstance(got, dict) else ",".join(got)
                if given[name] == env[name]:
                    assert str(got).lower() == env[name].lower(), f"{cls.__name__}.{field} ({name})"


def test_with_only_the_required_variables_everything_else_is_off_not_broken(tmp_path, monkeypatch, caplog):
    """Compose passes an unset variable as empty: each class reads that as unset (its default), the
    policy's ${VAR:-default} its default, and the worker warns about each integration that is off."""
    given = services(REQUIRED, tmp_path)
    worker, receiver = given["worker"]["environment"], given["webhook"]["environment"]
    integrations = loaded(IntegrationSettings, worker, monkeypatch)
    assert integrations == IntegrationSettings.model_construct()  # every field its default
    temporal = loaded(TemporalSettings, worker, monkeypatch)
    assert temporal.address == "temporal:7233" and temporal.tls_config() is False
    policy = load_policy(ROOT / "config" / "preskool.yaml")
    assert policy.status_page.default_component == "erp-component-id"  # ${…:-erp-component-id}
    assert loaded(SlackAppSettings, receiver, monkeypatch).problems() == []
    with caplog.at_level("WARNING", logger="activities"):
        from activities import build_activities

        build_activities(integrations, policy)
    off = [r.getMessage() for r in caplog.records if r.name == "activities"]
    assert len(off) == sum(1 for ps in PROVIDERS.values() if not any(p.enabled_by == () for p in ps))


def test_each_roles_own_paging_key_reaches_the_worker(tmp_path):
    """Every §3 role's routing key (the roster's `paging_keys`, through ${PAGERDUTY_ROUTING_KEY_<ROLE>}
    in the policy the worker mounts) is passed to the worker by name."""
    refs = paging_key_references(ROOT / "config" / "preskool.yaml")
    assert set(refs) == {r.value for r in Role} and all(len(v) == 1 for v in refs.values()), refs
    given = services(everything(), tmp_path)["worker"]["environment"]
    for role in Role:
        (name,) = refs[role.value]
        assert given.get(name) == everything()[name], f"{role.value}: {name} does not reach the worker"


def test_the_policy_is_mounted_read_only_not_baked_into_the_image(tmp_path):
    worker = services(REQUIRED, tmp_path)["worker"]
    policy = Path(worker["environment"]["IRP_POLICY_FILE"])
    source, read_only = mounts(worker)[str(policy.parent)]
    assert read_only and Path(source) == ROOT / "config" and (ROOT / "config" / policy.name).is_file()
    assert policy_references(ROOT / "config" / policy.name) <= set(worker["environment"])
    assert not re.search(r"^COPY config\b", (ROOT / "Dockerfile").read_text(), re.M)


# -- .env and .env.example ----------------------------------------------------------------------------


def test_env_example_lists_exactly_what_compose_reads_from_env():
    """Every variable docker-compose.yml takes from .env is in .env.example (set or commented out),
    and nothing else is."""
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    read = set(INTERPOLATED.findall(COMPOSE.read_text()))
    assert read - listed == set(), f".env.example lacks {sorted(read - listed)}"
    assert listed - read == set(), f".env.example lists {sorted(listed - read)}, which compose never reads"


def test_env_files_are_ignored_by_git_but_the_example_is_not():
    git = shutil.which("git")
    if not git or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        [
            git,
            "check-ignore",
            "--no-index",
            ".env",
            ".env.production",
            "tls/receiver/tls.key",
            ".env.example",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert ignored == [".env", ".env.production", "tls/receiver/tls.key"]


def test_compose_refuses_to_start_without_each_required_setting(tmp_path):
    for name in REQUIRED:
        done = render({k: v for k, v in REQUIRED.items() if k != name}, tmp_path)
        assert done.returncode != 0 and name in done.stderr, (name, done.stderr)


# -- what is published --------------------------------------------------------------------------------


def published(service: dict) -> list[tuple[str, int]]:
    """(host ip, published port) of each of the service's ports; "" for every interface."""
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append((port.get("host_ip", ""), int(port["published"])))
        else:  # "127.0.0.1:8233:8080/tcp", "443:443"
            parts = port.split("/")[0].split(":")
            ports.append((parts[0] if len(parts) == 3 else "", int(parts[-2])))
    return ports


def mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """Target → (source, read-only) of the service's volumes, as `config` prints them."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
        else:
            source, target, *mode = volume.split(":")
            found[target] = (source, mode == ["ro"])
    return found


def test_only_the_tls_proxy_is_published_beyond_this_machine(tmp_path):
    given = services(REQUIRED, tmp_path)
    beyond = {
        name: ports
        for name, s in given.items()
        if (ports := [p for p in published(s) if p[0] != "127.0.0.1"])
    }
    assert beyond == {"proxy": [("", 443)]}, beyond
    assert published(given["temporal-ui"]) == [("127.0.0.1", 8233)]  # the UI can signal and cancel incidents
    assert "ports" not in given["webhook"] and "ports" not in given["temporal"]


def test_the_proxy_terminates_tls_and_forwards_only_the_receivers_public_paths(tmp_path):
    given = services(REQUIRED, tmp_path)
    proxy = given["proxy"]
    targets = mounts(proxy)
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert targets["/etc/caddy/Caddyfile"] == (str(ROOT / "deploy" / "Caddyfile"), True)
    tls = re.search(r"^\s*tls (\S+) (\S+)$", caddyfile, re.M)
    assert tls and all(Path(f).parent.as_posix() == "/etc/caddy/tls" for f in tls.groups())
    assert targets["/etc/caddy/tls"] == (str(ROOT / "tls" / "receiver"), True)
    assert proxy["depends_on"]["webhook"]["condition"] == "service_healthy"
    port = given["webhook"]["environment"]["IRP_WEBHOOK_PORT"]
    assert set(re.findall(r"reverse_proxy (\S+)", caddyfile)) == {f"webhook:{port}"}
    paths = re.search(r"@receiver path (.+)$", caddyfile, re.M).group(1).split()
    assert paths == ["/webhooks/*", "/slack/events", "/incidents"]
    served = {
        p for p in KNOWN_PATHS if any(p == q or (q.endswith("/*") and p.startswith(q[:-1])) for q in paths)
    }
    assert served == KNOWN_PATHS - {"/healthz"}  # /metrics/ and /healthz stay inside
    assert re.search(r"handle \{\s*respond 404\s*\}", caddyfile)


def caddy_routes(path: str, caddyfile: str) -> list[str]:
    """The named matchers of `caddyfile` whose `path` list holds `path` (Caddy's `/x/*` is a prefix)."""
    return [
        name
        for name, listed in re.findall(r"^\s*@(\w+)(?: path| \{\s*path) ([^\n]+)$", caddyfile, re.M)
        if any(path == q or (q.endswith("/*") and path.startswith(q[:-1])) for q in listed.split())
    ]


def test_the_proxy_routes_the_read_only_pages_and_strips_the_user_header(tmp_path):
    """/ui/ reaches the receiver (GET and HEAD only), and whatever a client sent under the pages'
    user header is removed on the way: compose names that header to Caddy as to the receiver."""
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    for path in page_paths():
        assert caddy_routes(path, caddyfile) == ["pages"], f"{path} is not routed to the pages"
    assert caddy_routes("/metrics/", caddyfile) == caddy_routes("/healthz", caddyfile) == []
    pages = re.search(r"@pages \{([^}]*)\}", caddyfile).group(1)
    assert re.search(r"^\s*method GET HEAD$", pages, re.M), pages
    route = re.search(r"handle @pages \{([^}]*\}?[^}]*)\}", caddyfile).group(1)
    assert re.search(r"^\s*request_header -\{\$IRP_UI_USER_HEADER:[\w-]+\}$", route, re.M), route
    for env, header in (
        (REQUIRED, None),
        (REQUIRED | {"IRP_UI_USER_HEADER": "X-Auth-Request-Email"}, "X-Auth"),
    ):
        given = services(env, tmp_path)
        named = given["proxy"]["environment"]["IRP_UI_USER_HEADER"]
        assert named and named.startswith(header or "X-"), named  # never empty: Caddy needs a name
        assert given["webhook"]["environment"]["IRP_UI_USER_HEADER"] in ("", named)


@pytest.mark.parametrize("header", ["", "X-Auth-Request-Email"])
def test_caddy_reads_the_caddyfile_as_the_route_we_mean(header, tmp_path):
    """`caddy adapt` (when Caddy is installed; Debian's `caddy`) with the proxy's environment: the
    pages' matcher is GET/HEAD on /ui/*, its route deletes the named user header, then proxies."""
    caddy = shutil.which("caddy")
    if not caddy:
        pytest.skip("caddy is not installed (Debian's `caddy` adapts the Caddyfile offline)")
    env = REQUIRED | ({"IRP_UI_USER_HEADER": header} if header else {})
    proxy = services(env, tmp_path)["proxy"]["environment"]
    done = subprocess.run(
        [caddy, "adapt", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter", "caddyfile"],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)} | proxy,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (site,) = json.loads(done.stdout)["apps"]["http"]["servers"]["srv0"]["routes"]
    routes = site["handle"][0]["routes"]
    (pages,) = [r for r in routes if any("/ui/*" in m.get("path", []) for m in r.get("match", []))]
    assert pages["match"] == [{"method": ["GET", "HEAD"], "path": ["/ui/*"]}]
    handlers = pages["handle"][0]["routes"][0]["handle"]
    assert handlers[0] == {"handler": "headers", "request": {"delete": [proxy["IRP_UI_USER_HEADER"]]}}
    assert handlers[-1]["handler"] == "reverse_proxy" and handlers[-1]["upstreams"] == [
        {"dial": "webhook:8000"}
    ]


# -- Temporal as its own tools set it up --------------------------------------------------------------


def test_temporal_images_are_pinned_to_one_server_version(tmp_path):
    given = services(REQUIRED, tmp_path)
    images = {name: s["image"] for name, s in given.items() if s.get("image", "").startswith("temporalio/")}
    assert set(images) == {"temporal-schema", "temporal", "temporal-namespace", "temporal-ui"}
    tags = {name: image.split(":")[1] for name, image in images.items()}
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", t) for t in tags.values()), tags
    assert (
        tags["temporal"] == tags["temporal-schema"] == tags["temporal-namespace"]
    )  # the schema tool matches
    assert not any(
        ":latest" in s.get("image", ":latest") for n, s in given.items() if n not in COMPOSE_SERVICES
    )


def test_schema_then_server_then_namespace_then_the_app(tmp_path):
    given = services(REQUIRED, tmp_path)

    def waits(service: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in given[service]["depends_on"].items()}

    assert waits("temporal-schema") == {"postgresql": "service_healthy"}
    assert waits("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert waits("temporal-namespace") == {"temporal": "service_healthy"}
    assert waits("temporal-ui") == {"temporal": "service_healthy"}
    for app in COMPOSE_SERVICES:
        assert waits(app) == {"temporal-namespace": "service_completed_successfully"}
    for name in ("postgresql", "temporal", "webhook", "worker"):
        assert given[name]["healthcheck"]["test"], name
    assert given["worker"]["healthcheck"]["test"] == ["CMD", "python", "-m", "connection.health"]
    script = (ROOT / "deploy" / "temporal" / "setup-schema.sh").read_text()
    for db, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"--db {db} setup-schema -v 0.0" in script
        assert f"--db {db} update-schema -d /etc/temporal/schema/postgresql/v12/{schema}/versioned" in script
    assert given["temporal-schema"]["command"] == ["/irp/setup-schema.sh"]
    assert given["temporal-namespace"]["command"] == ["/irp/create-namespace.sh"]


def test_the_server_runs_with_the_update_payload_limit(tmp_path):
    temporal = services(REQUIRED, tmp_path)["temporal"]
    path = Path(temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"])
    source, read_only = mounts(temporal)[str(path.parent)]
    assert read_only and Path(source) == ROOT / "deploy" / "temporal" / "dynamicconfig"
    dynamic = yaml.safe_load((Path(source) / path.name).read_text())
    assert dynamic["history.maxInFlightUpdatePayloads"] == [
        {"value": UPDATE_PAYLOAD_LIMIT, "constraints": {}}
    ]


def retention(text: str) -> timedelta:
    """A Temporal CLI duration such as 30d, 720h."""
    amount, unit = re.fullmatch(r"(\d+)([dh])", text).groups()
    return timedelta(days=int(amount)) if unit == "d" else timedelta(hours=int(amount))


def test_the_namespace_outlives_the_section_8_week(tmp_path):
    """§8's last deliverables are due a week after resolution; a closed incident must still be there."""
    job = services(REQUIRED, tmp_path)["temporal-namespace"]["environment"]
    assert retention(job["RETENTION"]) >= timedelta(days=30)
    assert job["NAMESPACE"] == "default" and job["TEMPORAL_ADDRESS"] == "temporal:7233"
    script = (ROOT / "deploy" / "temporal" / "create-namespace.sh").read_text()
    assert 'namespace create -n "$NAMESPACE" --retention "$RETENTION"' in script
    assert 'namespace update -n "$NAMESPACE" --retention "$RETENTION"' in script  # an existing one too


def test_the_image_is_built_with_its_own_build_id(tmp_path):
    """Each image names its code: compose builds it with IRP_BUILD_ID as the BUILD_ID argument,
    the Dockerfile refuses to build without one, and no container is given one at run time (a
    rebuilt image under the same id would put new code under incidents pinned to the old)."""
    app = services({**everything(), "IRP_BUILD_ID": "0123456789ab"}, tmp_path)["worker"]
    assert app["build"]["args"]["BUILD_ID"] == "0123456789ab"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BUILD_ID\n" in dockerfile and 'test -n "$BUILD_ID"' in dockerfile
