"""The incident's rules as deciders (issue 22): pure functions over the incident's state and its
pinned policy that answer a Decision (plan/decision.py) — the verdict for the person, the changes,
the typed events and the typed effects — and change nothing themselves.

One module per capability, each reading like the part of the plan it keeps:

- lifecycle.py   §4 and §5.2: acknowledgement, severity, roles, updates, blast radius, mitigation,
                 PagerDuty's word, and the clocks (the 2-minute escalation, phase windows, cadence)
- alerts.py      §4.1/§6: what a delivery or a declaration opens, and what a later one changes
- requests.py    §4.3/§7 actions, the §5.4 customer email and a private incident's public statement:
                 one request lifecycle
- ledger.py      §8: the deliverables, their reminders, action items
- gate.py        §4.5: resolving, verified or forced, and the close-out
- claims.py      who acted: a decision sent in someone's name, held until they confirm it
- pins.py        📌 bridge messages in the timeline
- outcomes.py    what an outward step's result means for the incident (a page, a post, …)
- clocks.py      every clock in one place: when the incident must next look, and the tick
- common.py      what several share: minutes, the cadence, entering a phase, closing a deliverable

Each is tested like the plan's other rules, with no server: table tests (tests/test_deciders.py)
and random incidents (tests/test_simulation.py). The workflow (workflows/router.py) judges the
person (plan/judge.py), decides, then applies the decision and runs its effects on their lanes."""
