"""Roles any verified person can take (issue 23) as deciders: who may hold a role (the policy's
`roles.<role>.may_hold`), a role given or handed over, the chat provider's answer about someone
outside the roster, and the role's checklist. Pure (plan/decision.py).

A role goes to its new holder at once when the rule already knows them (a person of the roster, or
whom PagerDuty says is on call; a person the role's list names). Someone else, for a role open to
verified members, is first checked with the chat provider (effect VerifyHolder): the role follows
if they are a full member, else it is refused with the provider's reason. The holder has the role's
authority for this incident only (plan/holders.py: assignments)."""

from __future__ import annotations

from plan import buttons, templates
from plan.decision import Actor, Draft, Verdict
from plan.effects import Invite, Notify, Page, VerifyHolder
from plan.events import EventKind as K
from plan.holders import stranger
from plan.models import GatedAction, HoldRule, Role
from plan.privacy import PRIVATE_SUMMARY
from plan.signals import AssignRole, Handover, TickChecklist

# workflow.patched id: a role given to someone outside the roster is checked with the chat
# provider, a handover posts its note, and the new holder gets the role's checklist (issue 23).
PATCH = "roles-anyone"
VERIFY = "verify"  # may_hold(): ask the chat provider first


def may_hold(d: Draft, role: Role, person: str) -> str | None:
    """None when `person` may take `role` now, VERIFY when the chat provider must vouch for them
    first, else why they may not (the policy's rule, by its path)."""
    rule = d.policy.roles[role].may_hold
    where = f"policy roles.{role.value}.may_hold"
    if isinstance(rule, list):
        if person.lower() in {e.lower() for e in rule}:
            return None
        return f"the {role.title} may be held only by the people {where} lists; {person} is not one"
    why = stranger(d.s, d.policy, person, assignees=False)
    if why is None:
        return None
    if rule is HoldRule.verified_members:
        return VERIFY
    return f"the {role.title} is held only by people of the roster ({where}: roster): {why}"


def assign_role(d: Draft, assignment: AssignRole, actor: Actor) -> None:
    """`assign_role`: the role goes to `person` if the role's rule lets them hold it."""
    hand(d, "assign_role", assignment.role, assignment.person, assignment.by)


def handover(d: Draft, h: Handover, actor: Actor) -> None:
    """`handover`: the holder of a role (or whoever may assign roles) hands it to `person` with
    their summary. The role is the one `by` holds when they hold exactly one."""
    begun_before(d, "handover")
    role = h.role or _sole_role(d, actor)
    held = d.holder(role)
    if not (held and held.email.lower() == h.by.lower()) and not d.policy.may(
        GatedAction.assign_role, d.roles_of(h.by)
    ):
        named = ", ".join(r.title for r in d.policy.authority.get(GatedAction.assign_role) or []) or "nobody"
        d.refuse("handover", f"{h.by} does not hold the {role.title}: its holder or {named} hands it over")
    if held and held.email.lower() == h.person.lower():
        d.refuse("handover", f"{h.person} already holds the {role.title}")
    hand(d, "handover", role, h.person, h.by, h.note)


def hand(d: Draft, how: str, role: Role, person: str, by: str, note: str = "") -> None:
    """The role to `person` now, after the chat provider's answer (pending), or refused."""
    why = may_hold(d, role, person)
    if why == VERIFY:
        d.verdict = Verdict.pending
        d.note(K.role, f"{person} is checked with the chat provider before taking the {role.title}", by=by)
        d.effect(VerifyHolder(role=role, person=person, by=by, how=how, note=note))
        return
    if why:
        d.refuse(how, why)
    taken(d, how, role, person, by, note)


def verified(d: Draft, asked: VerifyHolder, member: bool, why: str | None) -> None:
    """The chat provider's answer about `asked.person`: a full member takes the role; anyone else
    (a guest, a bot, a deactivated account, no account, no answer) is refused with the reason."""
    if not member:
        d.refuse(asked.how, f"{asked.person} cannot hold the {asked.role.title}: {why or 'not verified'}")
    taken(d, asked.how, asked.role, asked.person, asked.by, asked.note, checked=True)


def taken(d: Draft, how: str, role: Role, person: str, by: str, note: str = "", checked: bool = False):
    """`person` holds `role` from now on: said in the timeline and the bridge, paged if the RACI
    engages the role, invited, and (patched incidents) told with the role's checklist."""
    before = d.holder(role)
    d.s.assignments = {**d.s.assignments, role: person}
    d.s.checklists = {k: v for k, v in d.s.checklists.items() if k != role}
    verified_note = " (verified a full member by the chat provider)" if checked else ""
    if how == "handover":
        d.note(
            K.handover,
            f"{role.title} handed over from {before.email if before else 'nobody'} to {person} "
            f"(by {by}){verified_note}" + (f": {note}" if note else ""),
            by=by, role=role, person=person,
        )  # fmt: skip
        d.post(
            "handover",
            f"🤝 Handover: {role.title} is now {templates.mention_email(person)} "
            f"(was {templates.mention(before)}; by {by})"
            + (f"\n> {templates.mention(before)}'s summary: {note}" if note else "")
            + _opening_lines(d, role),
        )
    else:
        _assigned(d, role, person, by, verified_note)
    if role in d.engaged.page:
        d.effect(Page((role,)))
    d.effect(Invite((role,)))
    if how == "handover" or checked or d.given.patched(PATCH):
        _tell_checklist(d, role, person, note)


def _assigned(d: Draft, role: Role, person: str, by: str, verified_note: str) -> None:
    """As `assign_role` always said it (the timeline and the bridge)."""
    d.note(K.role, f"{role.title} is now {person} (by {by}){verified_note}", by=by, role=role, person=person)
    held = d.holder(role)
    d.post(
        "role",
        f"👤 {role.title}: {templates.mention(held) if held else 'nobody'} (assigned by {by})"
        + _opening_lines(d, role),
    )


def _opening_lines(d: Draft, role: Role) -> str:
    """The §5.1 opening's people lines as they read now, for a change to one of their roles."""
    if role not in (Role.incident_commander, Role.oncall_primary, Role.oncall_secondary):
        return ""
    ic, primary, secondary = (
        d.holder(r) for r in (Role.incident_commander, Role.oncall_primary, Role.oncall_secondary)
    )
    m = templates.mention
    return f"\n§5.1 now reads: IC: {m(ic)} · On-Call: {m(primary)} + {m(secondary)}"


def _tell_checklist(d: Draft, role: Role, person: str, note: str) -> None:
    """A direct message to the new holder: the role, the summary handed over, the checklist."""
    items = d.policy.roles[role].checklist
    about = PRIVATE_SUMMARY if d.s.private else d.s.summary  # need-to-know: details in the bridge
    lines = [f"You are now the {role.title} of incident {d.given.incident_id}: {about}"]
    if note:
        lines.append(f"Summary handed over: {note}")
    if items:
        lines.append("Your checklist (§3):\n" + "\n".join(f"☐ {item}" for item in items))
    d.effect(
        Notify(
            key=f"checklist-{role.value}-{person}-{d.now:%Y%m%dT%H%M%S}",
            text="\n".join(lines),
            email=person,
            buttons=tuple(buttons.checklist(d.given.incident_id, role.value, items)),
        )
    )


def tick(d: Draft, t: TickChecklist, actor: Actor) -> None:
    """`tick_checklist`: the role's holder ticks one item of its checklist, kept in the timeline."""
    begun_before(d, "tick_checklist")
    items = d.policy.roles[t.role].checklist
    if t.item >= len(items):
        d.refuse("tick_checklist", f"the {t.role.title}'s checklist has {len(items)} item(s)")
    if t.role not in actor.roles:
        d.refuse("tick_checklist", f"{t.by} does not hold the {t.role.title}")
    done = d.s.checklists.get(t.role, [])
    if t.item in done:
        d.note(K.checklist, f"{t.role.title}: “{items[t.item]}” was already done", by=t.by, role=t.role)
        return
    d.s.checklists = {**d.s.checklists, t.role: sorted([*done, t.item])}
    d.note(K.checklist, f"{t.role.title}: “{items[t.item]}” done by {t.by}", by=t.by, role=t.role)


def begun_before(d: Draft, signal: str) -> None:
    """An incident begun before issue 23 refuses this signal as the code it began on did (an
    unknown signal, refused where people look), so that its history replays."""
    if not d.given.patched(PATCH):
        d.refuse(signal, f"this incident takes no signal {signal!r}")


def _sole_role(d: Draft, actor: Actor) -> Role:
    held = sorted(actor.roles)
    if len(held) != 1:
        d.refuse(
            "handover",
            f"name the role to hand over: {actor.email} holds "
            + (", ".join(r.title for r in held) if held else "no role"),
        )
    return held[0]
