"""What an outward step's result means for the incident, as deciders: a page's outcome, pages
resolved, a status-page incident's id, a ticket, a direct message, a post, the on-call look, the
bridge's channel. The lanes (workflows/effects.py and the executors) do the step and hand its
result here. Pure."""

from __future__ import annotations

from plan import templates
from plan.decision import Draft
from plan.effects import Notify
from plan.events import EventKind as K
from plan.incident import Page
from plan.models import Role

OUTCOME_KIND = {"paged": K.paged, "skipped": K.page_skipped, "failed": K.page_failed}


def paged(d: Draft, pages: list[tuple[Page, str]]) -> None:
    """Each page as it went (`who`: the role and its holder's name, for the timeline)."""
    for page, who in pages:
        said = f"paged {who}" if page.outcome == "paged" else f"{who}: {page.detail}"
        d.note(OUTCOME_KIND[page.outcome], said, role=page.role, person=page.person)
    d.s.paged = [*d.s.paged, *(page for page, _ in pages)]


def pages_resolved(d: Draft, dedup_keys: list[str]) -> None:
    """§4.5 step 5: these pages were resolved in PagerDuty."""
    d.s.paged = [
        p.model_copy(update={"resolved": True}) if p.dedup_key in dedup_keys else p for p in d.s.paged
    ]
    if resolved := [p.role.title for p in d.s.paged if p.resolved]:
        d.note(K.pages_resolved, "PagerDuty pages resolved: " + ", ".join(resolved))


def status_page(
    d: Draft, incident_id: str | None, status: str, title: str, note: str | None, skipped: str | None
) -> None:
    """What the status-page step came to: its incident's id, or why it was skipped."""
    if skipped:
        d.note(K.status_page_skipped, skipped)
    elif incident_id:
        d.s.status_page_id = incident_id
        d.note(K.status_page, f"status page: {status} ({title})" + (f"; {note}" if note else ""))


def ticket(
    d: Draft, key: str, url: str | None, ticket_key: str | None, note: str | None, skipped: str | None
) -> None:
    if url:
        d.s.tickets = {**d.s.tickets, key: url}
        d.note(K.ticket, f"{key}: {ticket_key} {url}" + (f" ({note})" if note else ""))
    elif skipped:
        d.note(K.ticket_skipped, f"{key}: {skipped}")


def ticket_failed(d: Draft, key: str, title: str, why: str, say: bool) -> None:
    """§8: the tracker refused one ticket for good (a field the project requires, an issue type
    or project it lacks): in the timeline, and (`say`) told to the IC, who owns the action items,
    by direct message (the bridge is archived by §8) and in the bridge while it is open, naming the
    ticket and the tracker's reason, so someone files it by hand; the other tickets go on."""
    d.note(K.ticket_failed, f"{key}: {why}", reason=why)
    if not say:
        return
    text = (
        f"⚠️ The {key} ticket ({title}) could not be created: {why}. File it by hand, "
        "and fix the Jira settings (docs/integrations.md) for the next ones."
    )
    if d.s.bridge.channel_id and not d.s.bridge.archived:
        d.post(f"ticket-failed-{key}", text)
    d.effect(Notify(key=f"ticket-failed-{key}", text=text, role=Role.incident_commander))


def bridge(d: Draft, **changes) -> None:
    """The bridge's channel as the chat lane found it (opened, lost, continued, archived)."""
    d.s.bridge = d.s.bridge.model_copy(update=changes)


def counted_post(d: Draft) -> int:
    """One more post: its number keys it (a retry never posts it twice)."""
    d.s.posts += 1
    return d.s.posts


def on_call(d: Draft, holders, notes: list[str], why: str) -> None:
    """The on-call look settled (plan/oncall.py): who holds each role PagerDuty knows."""
    d.s.on_call = holders
    for text in notes:
        d.note(K.on_call, f"{text} [at {why}]")


def postmortem(d: Draft, draft: str) -> None:
    d.s.postmortem_draft = draft


def stated(d: Draft, said: bool) -> None:
    """A private incident's public statement was (or after all was not) made."""
    d.s.public_statement = said


def not_invited(d: Draft, failed: dict[str, str], roles: dict[str, list[Role]], tell: bool) -> None:
    """Who the bridge could not take (email → why; `roles`: email → the roles they were invited
    for): one event each, once per bridge and reason; with `tell` (not on incidents begun before
    `invite-each`), the IC and each of them (the IC once) hear it directly."""
    bridge = d.s.bridge
    new = {e: why for e, why in failed.items() if d.s.not_invited.get(f"{bridge.channel_id} {e}") != why}
    if not new:
        return
    d.s.not_invited = {**d.s.not_invited, **{f"{bridge.channel_id} {e}": why for e, why in new.items()}}
    said = {
        e: (", ".join(r.title for r in roles.get(e, [])) or "a person engaged", why) for e, why in new.items()
    }
    for email, (titles, why) in said.items():
        role = next(iter(roles.get(email, [])), None)
        d.note(
            K.invite_failed,
            f"could not invite {email} ({titles}) to #{bridge.channel}: {why}",
            person=email,
            role=role,
            reason=why,
        )
    if not tell:
        return
    n = len(d.s.not_invited)
    d.effect(
        Notify(
            key=f"not-invited-{n}",
            role=Role.incident_commander,
            text=templates.not_invited_to_ic(
                incident_id=d.given.incident_id, channel=bridge.channel or "", refused=said
            ),
        )
    )
    ic = d.holder(Role.incident_commander)
    for i, (email, (titles, why)) in enumerate(said.items()):
        if ic and ic.email.lower() == email.lower():
            continue  # the IC's own message names them already
        text = templates.not_invited_to_person(
            incident_id=d.given.incident_id, channel=bridge.channel or "", roles=titles, why=why, ic=ic
        )
        d.effect(Notify(key=f"not-invited-{n}-{i}", email=email, text=text))
