"""§3 RACI matrix and §6 paging: who is paged, invited to the bridge, or informed."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel

from plan.models import Policy, Raci, Role, Severity

# §6: "Is data at risk? YES → P0 regardless of scale → Page IC + DB Lead + CTO".
DATA_AT_RISK_PAGES = (Role.incident_commander, Role.database_lead, Role.cto)


class Engagement(BaseModel):
    """Whom the incident engages, by role, in the roster's order."""

    page: list[Role]
    invite: list[Role]
    inform: list[Role]
    letters: dict[Role, Raci]

    @property
    def bridge_members(self) -> list[Role]:
        return self.page + self.invite + self.inform


def engagement(policy: Policy, severity: Severity, data_at_risk: bool = False) -> Engagement:
    """R and A are paged, C invited to the bridge, I informed there; §6 extras are paged."""
    customer_impact = policy.severities[severity].customer_impact
    letters: dict[Role, Raci] = {}
    for role in Role:
        row = policy.raci[role]
        letter = row.letter(severity)
        if row.only_if_customer_impact and not customer_impact:
            letter = Raci.none
        letters[role] = letter
    page = [r for r in Role if letters[r] in (Raci.R, Raci.A) or (data_at_risk and r in DATA_AT_RISK_PAGES)]
    invite = [r for r in Role if letters[r] is Raci.C and r not in page]
    inform = [r for r in Role if letters[r] is Raci.I and r not in page]
    return Engagement(page=page, invite=invite, inform=inform, letters=letters)


# PagerDuty Events v2 allows dedup keys of at most 255 characters.
MAX_DEDUP_KEY = 255


def dedup_key(incident_id: str, role: Role, email: str | None = None) -> str:
    """One page per incident and role, and per person once the role is handed to someone:
    `inc-…:oncall_primary[:email]`. A key too long for PagerDuty names the person by a hash
    of the (normalised) email instead, so it stays the same on every retry."""
    key = f"{incident_id}:{role.value}" + (f":{email}" if email else "")
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return f"{incident_id[:200]}:{role.value}:{hashlib.sha256((email or '').encode()).hexdigest()[:16]}"
