"""Activities: the only code that talks to the outside world.

One package per capability (a port): its `typing.Protocol`, its request/result models and its
activities class in the package's `__init__.py`, and each provider in a module beside it with its
own settings class: chat/ (slack.py), paging/ (pagerduty.py), status_page/ (statuspage.py),
recovery/ (prometheus.py), tickets/ (jira.py), email/ (smtp.py), executor/ (process.py),
on_call/ (pagerduty.py).

A provider class has `name` (used in "skipped: <name> not configured"), `Settings` (its
pydantic-settings class, extending settings.SharedSettings), `enabled_by` (the variables that,
all set, turn it on: the worker's start-up warning names them; `enabled_note` may add another way) and
`from_settings(settings, people) -> provider | None` (None: not configured; `people` is the
worker's roster, for providers that address people). PROVIDERS below is where they are chosen."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from temporalio.exceptions import ApplicationError

from activities.chat import BridgeActivities, Directory
from activities.chat.slack import SlackChat
from activities.email import EmailActivities
from activities.email.smtp import Smtp
from activities.executor import ExecutorActivities
from activities.executor.process import ProcessExecutor
from activities.on_call import OnCallActivities
from activities.on_call.pagerduty import PagerDutyOnCall
from activities.paging import PagingActivities
from activities.paging.pagerduty import PagerDutyPager
from activities.policy import PolicyActivities
from activities.postmortem import PostmortemActivities
from activities.recovery import VerificationActivities
from activities.recovery.prometheus import Prometheus
from activities.settings import SharedSettings
from activities.status_page import StatusPageActivities
from activities.status_page.statuspage import Statuspage
from activities.tickets import TicketActivities
from activities.tickets.jira import Jira
from plan import Policy
from plan.attestation import public_keys
from plan.models import Person

# The ONE place providers are chosen: one line per provider, under the port it serves. A port
# with several serves through the first one configured.
PROVIDERS: dict[str, tuple[Any, ...]] = {
    "chat": (SlackChat,),
    "paging": (PagerDutyPager,),
    "on_call": (PagerDutyOnCall,),
    "status_page": (Statuspage,),
    "recovery": (Prometheus,),
    "tickets": (Jira,),
    "email": (Smtp,),
    "executor": (ProcessExecutor,),
}
# What an incident lacks while a port has no provider: the worker's start-up warning says it.
WITHOUT = {
    "chat": "no bridge channels, no Slack messages",
    "paging": "nobody is paged",
    "on_call": "pages go to the roster's people, not PagerDuty's on-call",
    "status_page": "no status page updates",
    "recovery": "the resolve gate cannot verify recovery: every resolve must be forced",
    "tickets": "no Jira tickets for the follow-ups",
    "email": "no customer emails, no email escalations",
    "executor": "approved actions cannot run",
}
log = logging.getLogger("activities")


class IntegrationSettings(
    *dict.fromkeys(p.Settings for ps in PROVIDERS.values() for p in ps if p.Settings is not SharedSettings),
    SharedSettings,
):
    """Every provider's settings in one object: what the worker reads from the environment, and
    what tests build from explicit values (`IntegrationSettings(slack_bot_token=..., ...)`)."""


class Chosen(NamedTuple):
    """A port's provider (None: none configured) and what to call it in a skip note."""

    provider: Any
    missing: str


def choose(port: str, settings: IntegrationSettings, people: tuple[Person, ...]) -> Chosen:
    """The first of the port's providers that `settings` configure."""
    candidates = PROVIDERS[port]
    for provider in candidates:
        if (built := provider.from_settings(settings, people)) is not None:
            return Chosen(built, provider.name)
    return Chosen(None, " or ".join(p.name for p in candidates))


def warn_off(port: str, chosen: Chosen) -> None:
    """One warning when `port` has no provider: what the incident lacks, and the variables that
    would turn a provider on (its steps are still recorded as skipped in each incident)."""
    if chosen.provider is not None:
        return
    how = " or ".join(
        ", ".join(p.enabled_by[:-1])
        + " and " * (len(p.enabled_by) > 1)
        + p.enabled_by[-1]
        + (f" ({p.enabled_note})" if getattr(p, "enabled_note", "") else "")
        for p in PROVIDERS[port]
    )
    log.warning(
        "%s is off (%s not configured): %s. Set %s to turn it on",
        port.replace("_", " "),
        chosen.missing,
        WITHOUT[port],
        how,
    )


def with_attestation_keys(policy: Policy, settings: SharedSettings) -> Policy:
    """The policy incidents pin, with the worker's IRP_ATTESTATION_PUBLIC_KEYS: with keys, a
    gated decision counts only when attested (or confirmed) by the person. Raises ValueError
    for a key that is not base64 of 32 raw bytes."""
    keys = public_keys(settings.irp_attestation_public_keys)
    return policy.model_copy(
        update={"attestation_keys": [base64.b64encode(k).decode() for k in keys.values()]}
    )


def _known_providers_only(policy: Policy) -> None:
    """A roster's `contacts` and `paging_keys` name providers; a misspelt name (`slak`) would leave
    that person silently unreachable, so it stops the worker instead. Raises ValueError."""
    known = {
        "contacts": {p.name for p in PROVIDERS["chat"]},
        "paging_keys": {p.name for p in PROVIDERS["paging"]},
    }
    bad = [
        f"roster.{role}.{table}.{name}"
        for role, person in policy.roster.items()
        for table, names in known.items()
        for name in getattr(person, table)
        if name not in names
    ]
    if bad:
        raise ValueError(
            f"unknown provider in {', '.join(bad)}: known are "
            + "; ".join(f"{table}: {', '.join(sorted(names))}" for table, names in known.items())
        )


async def check_outside(settings: IntegrationSettings, policy: Policy) -> list[str]:
    """At the worker's start, each configured provider that can (`check()`) holds its settings to
    the outside system as the customer configured it (Jira: the project, its localised issue
    types, the fields it requires, its components). Answers what each said; raises ValueError
    naming the setting and what the system offers. A system that cannot be asked now (down,
    unreachable) gets a warning and the worker starts: each item is then reported on its own."""
    people = tuple(policy.roster.values())
    said = []
    for port in ("tickets",):
        provider = choose(port, settings, people).provider
        if provider is None or not hasattr(provider, "check"):
            continue
        try:
            said.append(await provider.check())
        except ApplicationError as e:
            log.warning("%s could not be checked at start (%s): each item is checked when sent", port, e)
    return said


def build_activities(settings: IntegrationSettings, policy: Policy) -> list[Callable]:
    """Every activity the worker serves, wired to the providers `settings` configure, and the
    local activity by which an incident pins the worker's policy; a warning for each port left
    without a provider (`warn_off`). Raises
    ValueError for settings a provider refuses (e.g. an SMTP password without STARTTLS)."""
    people = tuple(policy.roster.values())
    _known_providers_only(policy)
    ports = ("chat", "paging", "status_page", "recovery", "tickets", "email", "executor", "on_call")
    chosen = {port: choose(port, settings, people) for port in ports}
    for port, provider in chosen.items():
        warn_off(port, provider)
    chat, pager, status_page, recovery, tickets, email, executor, on_call = chosen.values()
    paging = PagingActivities(pager.provider, policy, missing=pager.missing)
    bridge = BridgeActivities(chat.provider, Directory(people), missing=chat.missing)
    pinned = PolicyActivities(with_attestation_keys(policy, settings))
    return [
        paging.page_role,
        paging.resolve_page,
        OnCallActivities(on_call.provider, missing=on_call.missing).who_is_on_call,
        bridge.open_bridge,
        bridge.invite_to_bridge,
        bridge.post_to_bridge,
        bridge.post_to_channel,
        bridge.share_picture,
        bridge.archive_bridge,
        bridge.notify_person,
        bridge.check_member,
        StatusPageActivities(status_page.provider, missing=status_page.missing).publish_status,
        VerificationActivities(recovery.provider, missing=recovery.missing).verify_recovery,
        ExecutorActivities(executor.provider, missing=executor.missing).run_action,
        PostmortemActivities().draft_postmortem,
        TicketActivities(tickets.provider, missing=tickets.missing).create_ticket,
        EmailActivities(email.provider, missing=email.missing).send_email,
        pinned.current_policy,
        pinned.attestation_keys,
    ]
