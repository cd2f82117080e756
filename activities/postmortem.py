"""§4.6: the post-mortem draft, filled from the incident's facts into the team's template."""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

from pydantic import BaseModel
from temporalio import activity

DEFAULT_TEMPLATE = (
    Path(__file__).resolve().parent.parent / "docs" / "incident-response" / "post-mortem-template.md"
)


class PostmortemFacts(BaseModel):
    incident_id: str
    facts: dict[str, str]


class PostmortemActivities:
    """The template is read when the draft is made, so a team edits it without a deploy
    (IRP_POSTMORTEM_TEMPLATE points elsewhere); unknown $names are left as they are."""

    @activity.defn
    async def draft_postmortem(self, request: PostmortemFacts) -> str:
        path = Path(os.environ.get("IRP_POSTMORTEM_TEMPLATE") or DEFAULT_TEMPLATE)
        return Template(path.read_text(encoding="utf-8")).safe_substitute(request.facts)
