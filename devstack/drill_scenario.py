"""A drill's scenario as data (`drills/*.yaml`): the alerts that arrive and when, who does what when,
and how long the drill's clock runs (a whole incident and its week of §8 follow-ups).

Times are offsets from the drill's zero, the moment the first alert is sent: `90s`, `5m`, `2h30m`,
`8d`, or ISO 8601 (`PT5M`). People are named by their role in the plan (`oncall_primary`) or by
email. A file that does not fit is refused with the key's path (`steps.2.via: …`)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from plan.models import Role

DRILLS = Path(__file__).resolve().parent.parent / "drills"  # the shipped scenarios
COMPACT = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# What a person can do in the sandbox Slack (the app's buttons and modals); anything else goes
# through the CLI's path, the incident's `act` update.
IN_SLACK = ("acknowledge", "approve", "confirm_claim", "post_update")
WORLD = "prometheus"  # `who: prometheus` sets what the §4.5 checks measure


def _offset(value: Any) -> Any:
    """`5m`, `2h30m`, `8d`, `90s` as a timedelta; anything else is left to pydantic (ISO 8601)."""
    if isinstance(value, str) and value and (m := COMPACT.match(value.strip())):
        d, h, m_, s = (int(g or 0) for g in m.groups())
        return timedelta(days=d, hours=h, minutes=m_, seconds=s)
    return value


Offset = Annotated[timedelta, BeforeValidator(_offset)]


def _not_before_zero(at: timedelta) -> timedelta:
    if at < timedelta(0):
        raise ValueError("is before T+0 (only an alert's `began` may be)")
    return at


When = Annotated[Offset, AfterValidator(_not_before_zero)]  # a moment of the drill, from T+0


class DrillAlert(BaseModel):
    """One Alertmanager notification (webhook v4) the drill sends the receiver at `at`. `began`:
    the alert's own startsAt (default: `at`); §4's windows count from the earliest one."""

    model_config = ConfigDict(extra="forbid")

    at: When = timedelta(0)
    began: Offset | None = None  # may be before T+0: the problem began before the alert fired
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = {}

    @model_validator(mode="after")
    def _named(self) -> DrillAlert:
        if "alertname" not in self.labels:
            raise ValueError("labels need an alertname")
        return self


class DrillStep(BaseModel):
    """A person acting at `at`: `do` is the incident's signal (acknowledge, declare_blast_radius,
    request_action, approve, confirm_claim, post_update, mitigate, resolve, complete_deliverable,
    add_action_item, …), `with` its input (`by` is filled in from `who`). `via: slack` clicks
    the app's button in the sandbox Slack, signed as Slack signs it (for post_update, fills its
    modal with `with`); `via: cli` goes the way `irp` does. `who: prometheus` with
    `do: recovery` sets the §4.5 checks: `with: {healthy: true}` or `{failing: <check>}`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    at: When
    who: str
    do: str
    via: Literal["slack", "cli"] = "cli"
    with_: dict[str, Any] = Field(default={}, alias="with")
    note: str = ""  # what the step is about, printed as it runs

    @model_validator(mode="after")
    def _doable(self) -> DrillStep:
        from workflows.signals import PEOPLES  # the signals a person may send

        if self.who == WORLD:
            if self.do != "recovery":
                raise ValueError(f"who: {WORLD} does only `recovery`")
            return self
        if self.who not in {r.value for r in Role} and "@" not in self.who:
            roles = ", ".join(r.value for r in Role)
            raise ValueError(f"who: {self.who!r} is neither a role ({roles}) nor an email")
        if self.do not in PEOPLES:
            raise ValueError(f"do: no signal {self.do!r}; known: {', '.join(sorted(PEOPLES))}")
        if self.via == "slack" and self.do not in IN_SLACK:
            raise ValueError(f"via: slack does {', '.join(IN_SLACK)}; {self.do!r} goes `via: cli`")
        return self


class Scenario(BaseModel):
    """A drill: `name` (the file's stem), what it rehearses, the alerts, the steps, and `until`,
    how long its clock runs from zero (the §8 week ends at resolution + 7 days)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    about: str = ""
    alerts: list[DrillAlert] = Field(min_length=1)
    steps: list[DrillStep] = []
    until: When
    recovery: Literal["healthy", "failing"] = "failing"  # what the §4.5 checks measure at zero

    @model_validator(mode="after")
    def _in_time(self) -> Scenario:
        late = [x.at for x in (*self.steps, *self.alerts) if x.at > self.until]
        if late:
            raise ValueError(f"until ({self.until}) is before a step or an alert ({max(late)})")
        return self

    def timeline(self) -> list[tuple[timedelta, DrillAlert | DrillStep]]:
        """The alerts and steps in the order they happen (an alert before a step at the same time)."""
        events = [(a.at, 0, i, a) for i, a in enumerate(self.alerts)]
        events += [(s.at, 1, i, s) for i, s in enumerate(self.steps)]
        return [(at, what) for at, _, _, what in sorted(events, key=lambda e: e[:3])]


class ScenarioError(ValueError):
    """A scenario file that cannot be drilled: the message names the file and each key's path."""


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (`p0-login-outage`) or any file by path. ScenarioError with
    the file and the path of each bad key."""
    path = Path(name_or_path)
    if not path.suffix:
        path = DRILLS / f"{name_or_path}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        known = ", ".join(p.stem for p in sorted(DRILLS.glob("*.yaml")))
        raise ScenarioError(f"{path}: cannot read it ({e.strerror}); shipped scenarios: {known}") from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{path}: not YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping (name, title, alerts, steps, until)")
    try:
        return Scenario.model_validate({"name": path.stem} | raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        raise ScenarioError(f"{path}: {problems}") from None


def shipped() -> list[str]:
    """The names of the scenarios in drills/."""
    return [p.stem for p in sorted(DRILLS.glob("*.yaml"))]
