"""An incident decided again from its inputs, with no server (issue 24, item 4). Pure.

The harness plays the workflow's part as workflows/incident.py and workflows/router.py play it —
`decide`, then `applied` (plan/decision.py), a clock tick after every wake, and the clocks ticked
as they come due while time passes — and the lanes' part as workflows/effects.py plays it: each
effect carried out in order, its result handed to the decider the lane hands it to. Outside
results are the ones recorded (`Outside`: the §4.5 gate's verdicts, the actions' exit codes), or
success where none was recorded.

`irp whatif` replays recorded incidents (their inputs read from history by cli/whatif.py) under a
changed policy with `rerun`, and tests/test_simulation.py drives random incidents through the same
`Rerun`, so the harness the tool trusts is the one the plan's invariants are checked on."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from plan import effects as fx
from plan import holders
from plan.alert_digest import AlertDigest
from plan.alerts import Declaration
from plan.approvals import RequestState, approvals_complete
from plan.decide import alerts, clocks, gate, keys, outcomes, requests
from plan.decide.lifecycle import paged_roles
from plan.decide.roles import verified as holder_verified
from plan.decision import Decision, Given, applied, decide
from plan.incident import GateCheck, GateRun, IncidentState, Page
from plan.judge import Input, take
from plan.models import Person, Phase, Policy, Role
from plan.raci import dedup_key
from plan.refusals import RefusalLog

MAX_TICKS = 500  # clocks due in one wait: more means a clock that does not move on (a defect)
MAX_STEPS = 2000  # outward steps after one input: more means effects that feed themselves


@dataclass(frozen=True)
class Delivered:
    """An Alertmanager delivery (the receive_alerts update's digest), at the time it was taken."""

    at: datetime
    digest: AlertDigest


@dataclass(frozen=True)
class Declared:
    """A person's declaration (the incident's start input), at the incident's start."""

    at: datetime
    declaration: Declaration


@dataclass(frozen=True)
class Sent:
    """A person's input by any door (a signal, `act`, the approval updates): the signal's name as
    workflows/signals.py names it and the value as the incident read it (a dict, or anything)."""

    at: datetime
    signal: str
    value: Any


Event = Delivered | Declared | Sent


@dataclass
class Outside:
    """What outside systems answered, in order, where it was recorded: the §4.5 gate's verdicts
    and the approved actions' exit codes, the chat provider's word on who is a member (once a list
    runs out, the answer is success), and the workers' attestation keys a look-up found."""

    verdicts: list[bool] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # the workers' attestation keys, as last looked up
    members: list[tuple[bool, str | None]] = field(default_factory=list)  # the chat provider's answers

    def member(self) -> tuple[bool, str | None]:
        """Whether the next person asked about is a full member of the workspace, and why not."""
        return self.members.pop(0) if self.members else (True, None)

    def verdict(self) -> bool:
        return self.verdicts.pop(0) if self.verdicts else True

    def exit(self) -> int:
        return self.exits.pop(0) if self.exits else 0


@dataclass(frozen=True)
class Recorded:
    """One incident as recorded: its id, start, inputs in order, what outside systems answered,
    until when its clocks ran (its close, or now), and how many runs its history took
    (continue-as-new makes several; their inputs are in `events`, in order)."""

    incident_id: str
    started_at: datetime
    events: tuple[Event, ...]
    until: datetime
    private: bool = False  # declared private (the start input's declaration)
    verdicts: tuple[bool, ...] = ()
    exits: tuple[int, ...] = ()
    keys: tuple[str, ...] = ()
    members: tuple[tuple[bool, str | None], ...] = ()
    runs: int = 1


class Rerun:
    """One incident decided from scratch under `policy`. `signals`: the signal table by name
    (workflows/signals.py BY_NAME; plan/ imports no workflow)."""

    def __init__(
        self,
        incident_id: str,
        policy: Policy,
        start: datetime,
        signals: Mapping[str, Input],
        outside: Outside | None = None,
    ) -> None:
        self.incident_id, self.policy, self.now, self.signals = incident_id, policy, start, signals
        self.outside = outside or Outside()
        self.state = IncidentState(
            started_at=start,
            received_at=start,
            phases={Phase.DETECTION: start},
            refusals=RefusalLog(),
            moves_in_review=True,
        )
        self.lanes: deque[fx.Effect] = deque()
        self.opening = True
        self.ran: list[str] = []  # requests whose command ran, in order (each once, or a defect)

    def given(self) -> Given:
        return Given(self.incident_id, self.policy, self.now)

    def holder(self, role: Role) -> Person | None:
        """Who holds `role` now (plan/holders.py)."""
        return holders.holder(self.state, self.policy, role)

    def decide(self, decider, *args) -> Decision:
        """Decide and apply; then, as the workflow's loop does after every wake, tick the clocks
        at the same moment (not during the opening: the loop has not started yet)."""
        decision = decide(self.state, self.given(), decider, *args)
        self.lanes.extend(applied(self.state, decision, self.now))
        if decider is not clocks.tick and not self.opening:
            self.lanes.extend(applied(self.state, decide(self.state, self.given(), clocks.tick), self.now))
        return decision

    # --- inputs -------------------------------------------------------------------------------------

    def open(self, private: bool = False) -> None:
        """The opening, once the first alert or declaration is in hand."""
        self.decide(alerts.opened, private)
        self.opening = False

    def deliver(self, digest: AlertDigest) -> Decision:
        """An Alertmanager delivery: the first detects, later ones are re-evaluated."""
        first = self.state.decision is None
        self.state.deliveries += 1
        return self.decide(alerts.detected if first else alerts.later_delivery, digest)

    def person(self, signal: str, value: Any, confirmed: tuple[str | None] | None = None) -> Decision:
        """One person's input through `take`, as every door takes it; a confirmed claim is then
        taken as its person's (the router's hand-off). Answers the first decision."""
        decision = self.decide(take, self.signals[signal], value, confirmed)
        if signal == "confirm_claim" and decision.handoff is not None:
            claim = decision.handoff
            self.decide(take, self.signals[claim.signal], claim.value, (claim.user,))
        return decision

    def until(self, at: datetime, settle: bool = True) -> None:
        """Time passes to `at`: the clocks tick as often as they come due before it, and (with
        `settle`) the outward steps each tick queues are carried out at once. AssertionError for a
        clock that does not move on."""
        for _ in range(MAX_TICKS):
            due = clocks.next_clock(self.state, self.policy)
            if due is None or due > at:
                break
            self.now = max(self.now, due)
            self.decide(clocks.tick)
            after = clocks.next_clock(self.state, self.policy)
            if after is not None and after <= self.now:
                raise AssertionError(f"a clock due at {after} did not move on at {self.now}")
            if settle:
                self.settle()
        else:
            raise AssertionError(f"the clocks came due {MAX_TICKS} times in one wait")
        self.now = max(self.now, at)

    # --- the lanes' part ----------------------------------------------------------------------------

    def settle(self) -> None:
        """Every queued outward step carried out, each succeeding (or as recorded)."""
        for _ in range(MAX_STEPS):
            if not self.lanes:
                return
            self.lane_step(self.lanes.popleft(), True)
        raise AssertionError(f"more than {MAX_STEPS} outward steps after one input")

    def lanes_work(self, results: Iterable[bool]) -> None:
        """The next outward steps, each succeeding or failing as `results` say."""
        for ok in results:
            if self.lanes:
                self.lane_step(self.lanes.popleft(), ok)

    def lane_step(self, effect: fx.Effect, ok: bool) -> None:
        """One outward step; its result hands back to a decider as the lane hands it."""
        s = self.state
        match effect:
            case fx.Page(roles):
                self.decide(
                    outcomes.paged, [self._page(role, ok) for role in roles if role not in paged_roles(s)]
                )
            case fx.RunAction(request_id):
                self.decide(requests.running, request_id)
                if s.requests[request_id].state is RequestState.running:
                    self.ran.append(request_id)
                    self.decide(requests.ran, request_id, self.outside.exit() if ok else 1, "output")
            case fx.CarryOut(request_id):
                self._carry_out(request_id, ok)
            case fx.VerifyHolder():  # the chat provider vouches for the person, or not
                member, why = self.outside.member() if ok else (False, "a guest in Slack")
                self.decide(holder_verified, effect, member, why)
            case fx.Verify():
                passed = ok and self.outside.verdict()
                check = GateCheck(name="recorded", passed=passed, detail="as recorded")
                self.decide(
                    gate.verified, effect, GateRun(at=self.now, by=effect.by, passed=passed, checks=[check])
                )
            case fx.LookUpKeys():
                for waiting in self.decide(keys.learned, self.outside.keys).handoff or []:
                    self.decide(take, self.signals[waiting.signal], waiting.value, None, True)
            case fx.CloseOut():
                self.decide(outcomes.pages_resolved, [p.dedup_key for p in s.paged if p.outcome == "paged"])
                self.decide(gate.closed_out)
            case fx.OpenStatusPage():
                ident, error = ("sp-1", None) if ok else (None, "down")
                self.decide(outcomes.status_page, ident, "investigating", "t", None, error)
            case fx.Ticket(key=key):
                url, ident, error = ("https://jira/X-1", "X-1", None) if ok else (None, None, "down")
                self.decide(outcomes.ticket, key, url, ident, None, error)
            case _:
                pass  # posts, invitations, messages, metrics: nothing the incident decides comes back

    def _page(self, role, ok: bool) -> tuple[Page, str]:
        s, holder = self.state, self.policy.person(role)
        person = s.assignments.get(role) or (holder.email if holder else None)
        key = dedup_key(self.incident_id, role, person if role in s.assignments else None)
        page = Page(role=role, person=person, dedup_key=key, outcome="paged" if ok else "failed", at=self.now)
        return page, role.title

    def _carry_out(self, request_id: str, ok: bool) -> None:
        request = self.state.requests[request_id]
        if approvals_complete(self.policy.actions[request.action], request) and ok:
            self.decide(requests.carried_out, request_id, ["school-42"], [], "sent")
        else:
            self.decide(requests.carried_out, request_id, [], ["approvals"], "not sent")


def rerun(recorded: Recorded, policy: Policy, signals: Mapping[str, Input]) -> Rerun:
    """`recorded`'s inputs decided again under `policy`, in order and at their times, the lanes
    settled after each and the clocks ticked in between, until `recorded.until`."""
    outside = Outside(
        list(recorded.verdicts), list(recorded.exits), list(recorded.keys), list(recorded.members)
    )
    r = Rerun(recorded.incident_id, policy, recorded.started_at, signals, outside)
    for event in sorted(recorded.events, key=lambda e: e.at):
        if not r.opening:
            r.until(event.at)
        r.now = max(r.now, event.at)
        match event:
            case Declared(declaration=declaration):
                r.decide(alerts.declared, declaration)
            case Delivered(digest=digest):
                if r.state.resolution is not None and not digest.stale(r.state.alerts_ended):
                    continue  # the validator answers these: the next incident's
                r.deliver(digest)
            case Sent(signal=signal, value=value):
                if r.opening or signal not in r.signals:
                    continue  # held until opening (below), or a name the incident takes no signal by
                r.person(signal, value)
        if r.opening and r.state.decision is not None:
            r.open(recorded.private)
            for early in [e for e in recorded.events if isinstance(e, Sent) and e.at <= event.at]:
                if early.signal in r.signals:
                    r.person(early.signal, early.value)
        r.settle()
    r.until(max(recorded.until, r.now))
    return r
