"""plan/bridge_proof.py: an incident takes as its bridge only a channel it can prove it made
(issue 20: two incidents ended in one channel). Tables, then Hypothesis over whole workspaces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plan.bridge_proof import (
    PURPOSE_MAX,
    Proof,
    SeenChannel,
    adopt,
    bridge_purpose,
    left_behind,
    proven,
    purpose_names,
)
from tests.fuzz import budget

BOT, PERSON = "UBOT", "UPERSON"
DAY = "preskool-incident-2026-12-07"
ME, OTHER = "inc-0a1b2c3d4e5f", "inc-9f8e7d6c5b4a"


@pytest.mark.parametrize(
    "purpose, names_me",
    [
        (f"Incident {ME}: Fees down", True),
        (f"Incident {ME}", True),  # a private incident's: its id only
        (f"Incident {ME} (continues #{DAY}): Fees down", True),
        (f"Incident {ME}-2: Fees down", False),  # the next generation is another incident
        (f"Incident {ME[:-1]}: Fees down", False),  # a shorter id is another incident
        (f"Incident x{ME}: Fees down", False),
        (f"Incident {OTHER}: looks like {ME} again", False),  # mentioned, not named
        (f"Incident {OTHER}: Incident {ME}", False),
        (f"  Incident {ME}", False),
        (f"incident {ME}", False),
        (f"Incident {ME}:Fees", False),  # not what bridge_purpose writes
        ("", False),
    ],
)
def test_a_purpose_names_an_incident_only_as_its_subject(purpose, names_me):
    assert purpose_names(purpose, ME) is names_me


@pytest.mark.parametrize(
    "summary, continues, expected",
    [
        ("Fees down", None, f"Incident {ME}: Fees down"),
        ("", None, f"Incident {ME}"),
        ("Fees down", f"{DAY}-3", f"Incident {ME} (continues #{DAY}-3): Fees down"),
        ("", DAY, f"Incident {ME} (continues #{DAY})"),
    ],
)
def test_the_bridge_purpose(summary, continues, expected):
    assert bridge_purpose(ME, summary, continues) == expected and purpose_names(expected, ME)


def test_a_long_summary_is_clipped_after_the_id():
    purpose = bridge_purpose(ME, "x" * 1_000, f"{DAY}-12")
    assert len(purpose) == PURPOSE_MAX and purpose_names(purpose, ME)


def channel(
    id: str, name: str = DAY, creator: str = BOT, purpose: str = "", by: str = "", **kw
) -> SeenChannel:
    return SeenChannel(id, name, creator, purpose, by or (BOT if purpose else ""), **kw)


MINE = f"Incident {ME}: Fees down"
THEIRS = f"Incident {OTHER}: Fees down"


@pytest.mark.parametrize(
    "channels, made, adopted",
    [
        # The instance: another incident's fresh channel, its purpose not set yet.
        ([channel("C1")], None, None),
        ([channel("C1")], "C1", "C1"),  # this incident's own create answered C1
        ([], None, None),
        ([channel("C1", archived=True)], "C1", None),  # archived meanwhile: a new one is made
        ([channel("C1", purpose=MINE)], None, "C1"),
        ([channel("C1", purpose=THEIRS)], None, None),
        ([channel("C1", purpose=f"Incident {ME}-2: Fees down")], None, None),
        ([channel("C1", purpose=MINE, by=PERSON)], None, None),  # a person typed it
        ([channel("C1", creator=PERSON, purpose=MINE)], None, None),  # a person's channel
        ([channel("C1", name="general", purpose=MINE)], None, None),  # not a bridge of the day
        ([channel("C1", purpose=MINE, archived=True)], None, None),
        ([channel("C1", purpose=THEIRS), channel("C2")], "C2", "C2"),
        # Two proven (an attempt cut off by a timeout made one too): its own create's first.
        ([channel("C1", purpose=MINE, created=1), channel("C2", created=2)], "C2", "C2"),
        ([channel("C2", purpose=MINE, created=2), channel("C1", purpose=MINE, created=1)], None, "C1"),
    ],
)
def test_only_a_proven_channel_is_adopted(channels, made, adopted):
    found = adopt(channels, Proof(ME, DAY, BOT, made))
    assert (found.id if found else None) == adopted


@pytest.mark.parametrize(
    "channels, creating, left",
    [
        ([channel("C1", name=f"{DAY}-2")], f"{DAY}-2", "C1"),
        ([channel("C1", name=f"{DAY}-2")], None, None),  # no create was left unanswered
        ([channel("C1", name=f"{DAY}-2")], f"{DAY}-3", None),
        ([channel("C1", name=f"{DAY}-2", purpose=THEIRS)], f"{DAY}-2", None),  # someone's, set up
        ([channel("C1", name=f"{DAY}-2", creator=PERSON)], f"{DAY}-2", None),
        ([channel("C1", name=f"{DAY}-2", archived=True)], f"{DAY}-2", None),
    ],
)
def test_a_channel_named_as_an_unanswered_create_is_reported_not_taken(channels, creating, left):
    proof = Proof(ME, DAY, BOT)
    found = left_behind(channels, proof, creating)
    assert (found.id if found else None) == left and adopt(channels, proof) is None


# --- Hypothesis: whole workspaces, with the truth of who made what --------------------------------

# Incident ids as intake makes them (inc-<12 hex>, then -2, -3… for a group's next generations),
# drawn from few hashes so that ids that start with one another are common.
HASHES = st.sampled_from(["0a1b2c3d4e5f", "0a1b2c3d4e5", "0a1b2c3d4e50", "9f8e7d6c5b4a"])
IDS = st.builds(lambda h, g: f"inc-{h}" if g == 1 else f"inc-{h}-{g}", HASHES, st.integers(1, 12))
SUMMARIES = st.one_of(
    st.text("Incident :(#-abc0123456789", max_size=24),
    IDS.map(lambda i: f"like {i}"),
    IDS.map(lambda i: f"Incident {i}"),
)
NAMES = st.sampled_from([DAY, f"{DAY}-2", f"{DAY}-3", "general", "preskool-incident-2026-12-06"])


@st.composite
def workspaces(draw):
    """(channels as the service lists them, who truly made each: an incident id or a person)."""
    channels, owners = [], {}
    for n in range(draw(st.integers(0, 8))):
        owner = draw(st.one_of(IDS, st.just(PERSON)))
        purpose, by = "", ""
        if owner != PERSON and draw(st.booleans()):  # the bot set the owner's purpose
            continues = draw(st.one_of(st.none(), NAMES))
            purpose, by = bridge_purpose(owner, draw(SUMMARIES), continues), BOT
        if draw(st.booleans()):  # a person typed a purpose, naming anyone
            purpose, by = draw(st.one_of(SUMMARIES, IDS.map(bridge_purpose))), PERSON
        channels.append(
            SeenChannel(
                f"C{n}",
                draw(NAMES),
                PERSON if owner == PERSON else BOT,
                purpose,
                by,
                draw(st.booleans()),
                draw(st.integers(0, 5)),
            )
        )
        owners[f"C{n}"] = owner
    return channels, owners


# Generation is cheap, but the machine is shared (2 cores): its speed is not what is tested.
@budget(400)
@given(workspaces(), IDS, st.data())
def test_an_incident_adopts_only_a_channel_it_made(workspace, me, data):
    """Whatever the workspace holds (other incidents' channels with and without purposes, ids that
    start with ours, purposes people typed), the adopted channel is one this incident made; and
    the channel its own create answered, still open, is always found."""
    channels, owners = workspace
    own = [c.id for c in channels if owners[c.id] == me]
    made = data.draw(st.one_of(st.none(), st.sampled_from(own))) if own else None
    proof = Proof(me, DAY, BOT, made)
    found = adopt(channels, proof)
    assert found is None or owners[found.id] == me
    made_channel = next((c for c in channels if c.id == made), None)
    if made_channel and not made_channel.archived:
        assert found == made_channel
    assert all(owners[c.id] == me for c in channels if proven(c, proof))


@budget(100)
@given(IDS, IDS, SUMMARIES, st.one_of(st.none(), NAMES))
def test_a_bridge_purpose_names_its_incident_and_no_other(owner, other, summary, continues):
    purpose = bridge_purpose(owner, summary, continues)
    assert purpose_names(purpose, owner) and purpose_names(purpose, other) == (owner == other)
