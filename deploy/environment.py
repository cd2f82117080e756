"""What each process reads from its environment: the one list that docker-compose.yml,
deploy/kubernetes/ and .env.example are checked against (tests/test_compose.py,
tests/test_kubernetes.py), and that docs/operating.md points to.

A process reads pydantic-settings classes (their variables are derived from the classes here, never
listed by hand), a few variables read directly (`os.environ` in the code, `${VAR}` in a script it
runs), and, for the worker, the `${VAR}` references of the policy file it loads.

  worker        IntegrationSettings (every provider's settings), TemporalSettings (with the payload
                keys), DeploymentSettings (its Worker Deployment and build); the policy's ${VAR}s
                (the roster's PagerDuty routing keys, Statuspage component ids, …)
  receiver      WebhookSettings, SlackAppSettings, TemporalSettings
  cli           TemporalSettings, IRP_HEARTBEAT_ALERT (`irp`, run inside the worker's container)
  codec-server  CodecServerSettings: run by each responder on their own machine (docs/security.md),
                so no compose service or manifest carries it
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

from activities import IntegrationSettings
from activities.postmortem import DEFAULT_TEMPLATE
from connection.codec_server import CodecServerSettings
from connection.deployment import DeploymentSettings
from connection.temporal import TemporalSettings
from plan.policy import _ENV_REF, DEFAULT_POLICY_FILE
from webhook.app import WebhookSettings
from webhook.slack import SlackAppSettings

ROOT = Path(__file__).resolve().parent.parent
LOGGING = frozenset({"IRP_LOG_FORMAT", "IRP_LOG_LEVEL"})  # connection/observability.py configure_logging


@dataclass(frozen=True)
class Process:
    """One process's reading of the environment: its settings classes, the variables it (or a script
    it runs) reads directly, and whether it loads the policy file (and so its ${VAR} references)."""

    settings: tuple[type[BaseSettings], ...]
    variables: frozenset[str] = frozenset()
    reads_policy: bool = False


PROCESSES: dict[str, Process] = {
    "worker": Process(
        (IntegrationSettings, TemporalSettings, DeploymentSettings),
        LOGGING
        | {
            "IRP_METRICS_ADDRESS",  # connection/observability.py metrics_runtime
            "IRP_POLICY_FILE",  # plan/policy.py
            "IRP_POSTMORTEM_TEMPLATE",  # activities/postmortem.py
            "IRP_K8S_NAMESPACE",  # scripts/rollback.sh, run by the rollback executor
        },
        reads_policy=True,
    ),
    "receiver": Process((WebhookSettings, SlackAppSettings, TemporalSettings), LOGGING),
    "cli": Process((TemporalSettings,), frozenset({"IRP_HEARTBEAT_ALERT"})),  # cli/main.py
    "codec-server": Process((CodecServerSettings,)),
}

# Read somewhere, deliberately passed to no production process.
NOT_PASSED = {
    "IRP_BUILD_ID": "baked into the image at build time (compose passes it to `docker compose build` as "
    "the BUILD_ID build argument, the Dockerfile refuses to build without it); Kubernetes sets it from "
    "the build's label. Passed at run time, one id could name two images' code",
    "IRP_DRILL": "set by `make demo` and by `make up` with the sandbox; never in production, where a "
    "rollback must really run and an incident's clock is the wall's",
}


@dataclass(frozen=True)
class Direct:
    """A variable read directly (not through a settings class): its default and what it means, for
    docs/configuration.md (a settings field's come from the field)."""

    default: str
    meaning: str


DIRECT = {
    "IRP_LOG_FORMAT": Direct(
        "text",
        "`json`: one JSON object a line, with the incident and the workflow (containers, log shippers).",
    ),
    "IRP_LOG_LEVEL": Direct("INFO", "The log level; at DEBUG client libraries log message text: keep INFO."),
    "IRP_METRICS_ADDRESS": Direct(
        "unset: no metrics", "`host:port` of the worker's Prometheus endpoint, e.g. `0.0.0.0:9464`."
    ),
    "IRP_POLICY_FILE": Direct(
        str(DEFAULT_POLICY_FILE.relative_to(ROOT)),
        "The policy (the plan as data), validated at start; the image has none: compose and the "
        "manifests mount it.",
    ),
    "IRP_POSTMORTEM_TEMPLATE": Direct(
        str(DEFAULT_TEMPLATE.relative_to(ROOT)), "The post-mortem draft's template, read at each draft."
    ),
    "IRP_K8S_NAMESPACE": Direct(
        "preskool", "The namespace `scripts/rollback.sh` rolls back in (kubectl reads KUBECONFIG as usual)."
    ),
    "IRP_HEARTBEAT_ALERT": Direct(
        "Watchdog", "The dead man's switch's alertname, for `irp alert` as for the receiver."
    ),
    "IRP_DRILL": Direct(
        "unset",
        "`1`: a drill stack: `scripts/rollback.sh` only prints what it would run, and the worker accepts a "
        "policy whose `drill_clock` speeds up the incidents' clock (without it, the worker refuses one).",
    ),
}

# Read only by the dev stack (devstack/stack.py, `make up`), beside the product's variables it passes on.
DEV_STACK = {
    "IRP_UI_PORT": Direct("8233", "The dev server's Web UI port."),
    "IRP_SANDBOX": Direct(
        "unset: the fakes unless a provider's credentials are set",
        "`1`: always the sandbox's fakes; `0`: never.",
    ),
    "IRP_DATA_DIR": Direct(
        ".data", "Where the dev server's database, the pid file, the logs and the receiver's token are kept."
    ),
    "IRP_DRILL_SPEED_UP": Direct(
        "unset: the incidents' clock is the wall's",
        "`10,1000`: a drill's clock runs ×10 while an incident is open, ×1000 once it is resolved "
        "(the policy's `drill_clock`; sandbox only; `irp drill SCENARIO --stack`, docs/drills.md).",
    ),
}

# docker-compose.yml's services that run our image, and the processes each one runs.
COMPOSE_SERVICES = {"worker": ("worker", "cli"), "webhook": ("receiver",)}


def env_names(settings: type[BaseSettings]) -> dict[str, str]:
    """Field name → the environment variable pydantic-settings reads it from (upper case: these
    classes are case-insensitive): the field's alias when it has one (a validation alias's first
    string choice), else env_prefix + the field name."""
    prefix = settings.model_config.get("env_prefix") or ""
    names = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            alias = next((c for c in alias.choices if isinstance(c, str)), None)
        if isinstance(alias, AliasPath):
            raise ValueError(f"{settings.__name__}.{field_name}: a nested alias is not an environment name")
        names[field_name] = (alias or prefix + field_name).upper()
    return names


def _references(node: object) -> set[str]:
    if isinstance(node, dict):
        node = list(node.values())
    if isinstance(node, list):
        return set().union(*(_references(v) for v in node))
    return {m.group(1) for m in _ENV_REF.finditer(node)} if isinstance(node, str) else set()


def policy_references(path: Path = DEFAULT_POLICY_FILE) -> set[str]:
    """The variables a policy file reads through ${VAR} or ${VAR:-default} in its values, as
    plan/policy.py expands them (its comments are not read)."""
    return _references(yaml.safe_load(path.read_text(encoding="utf-8")))


def paging_key_references(path: Path = DEFAULT_POLICY_FILE) -> dict[str, set[str]]:
    """Roster role → the variables its `paging_keys` read (secrets: plan.models keeps them SecretStr)."""
    roster = yaml.safe_load(path.read_text(encoding="utf-8")).get("roster") or {}
    return {role: _references(person.get("paging_keys") or {}) for role, person in roster.items()}


def variables(process: str, policy: Path = DEFAULT_POLICY_FILE) -> set[str]:
    """Every variable `process` reads: its settings classes', its direct ones, its policy's."""
    reads = PROCESSES[process]
    names = {name for cls in reads.settings for name in env_names(cls).values()} | set(reads.variables)
    return names | (policy_references(policy) if reads.reads_policy else set())


def secret_variables(policy: Path = DEFAULT_POLICY_FILE) -> set[str]:
    """The variables of SecretStr fields in any process's settings, and the roster's routing keys:
    never written as a literal in a file."""
    return {
        env_names(cls)[name]
        for reads in PROCESSES.values()
        for cls in reads.settings
        for name, field in cls.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }.union(*paging_key_references(policy).values())
