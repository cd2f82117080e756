"""Loading the plan as data: config/preskool.yaml, or the file IRP_POLICY_FILE names.

Secrets never sit in the file: write ``${PAGERDUTY_ROUTING_KEY_IC}`` (or ``${VAR:-default}``)
and the value is read from the environment at load time. As in the shell, the default also
stands for a variable that is set but empty (docker-compose.yml passes unset ones as empty).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from plan.addresses import address_problems
from plan.models import Policy

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent.parent / "config" / "preskool.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class PolicyError(ValueError):
    """The policy file is missing or wrong; the message names the file and the bad key."""


def policy_path() -> Path:
    return Path(os.environ.get("IRP_POLICY_FILE") or DEFAULT_POLICY_FILE)


def load_policy(path: str | Path | None = None) -> Policy:
    path = Path(path) if path else policy_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PolicyError(f"{path}: cannot read the policy file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise PolicyError(f"{path}: not valid YAML: {e}") from None
    return parse_policy(raw, source=str(path))


def parse_policy(raw: object, source: str = "policy") -> Policy:
    try:
        policy = Policy.model_validate(_expand_env(raw, source, ()))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != '[key]') or '(top)'}: {err['msg']}"
            for err in e.errors()
        )
        raise PolicyError(f"{source}: {problems}") from None
    if problems := address_problems(_mailed(policy)):
        raise PolicyError(f"{source}: " + "; ".join(problems))
    return policy


def _mailed(policy: Policy) -> list[tuple[str, str]]:
    """(key path, address) of every address the plan mails (§5.4): checked at load, not in the model,
    so a policy pinned in an incident's history before the check still loads on replay."""
    mail = policy.customer_email
    return [
        *(
            (f"customer_email.recipients.{tenant}.{i}", a)
            for tenant, addrs in mail.recipients.items()
            for i, a in enumerate(addrs)
        ),
        *((f"customer_email.default_recipients.{i}", a) for i, a in enumerate(mail.default_recipients)),
    ]


def _expand_env(node: object, source: str, where: tuple) -> object:
    if isinstance(node, dict):
        return {k: _expand_env(v, source, (*where, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, source, (*where, i)) for i, v in enumerate(node)]
    if isinstance(node, str):

        def value(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if default is not None:  # as in the shell, `:-` covers an empty variable too
                return os.environ.get(name) or default
            if name in os.environ:
                return os.environ[name]
            key = ".".join(str(p) for p in where)
            raise PolicyError(f"{source}: {key}: environment variable {name} is not set")

        return _ENV_REF.sub(value, node)
    return node
