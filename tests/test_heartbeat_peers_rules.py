"""plan/heartbeat.py: a heartbeat follows its alerting pipeline, whichever Alertmanager peer sends
(issue 23 case 6's kind, "long-running watchers follow the world as it changes"): tables for the
pipeline's name, and Hypothesis over sequences of beats from several peers against the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plan import AlertmanagerDelivery
from plan.heartbeat import (
    KEEP_SENDERS,
    LABEL_VALUE,
    SHOWN_LABELS,
    Beat,
    HeartbeatState,
    Retirement,
    heartbeat_id,
    pipeline_id,
    pipeline_labels,
    pipelines,
    record_beat,
    retired_text,
    route_beats,
    silences_over,
)
from plan.person_input import too_large
from tests.fuzz import budget
from tests.payloads import watchdog

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
K8S = {"alertname": "Watchdog", "severity": "none", "prometheus": "monitoring/k8s", "cluster": "eu-1"}


@pytest.mark.parametrize(
    "a, b, same",
    [
        (K8S, dict(reversed(list(K8S.items()))), True),  # label order is no part of the name
        (K8S, K8S | {"prometheus_replica": "prometheus-k8s-1"}, True),  # an HA Prometheus replica
        (K8S | {"replica": "0"}, K8S | {"replica": "1"}, True),  # Thanos's replica label
        (K8S | {"__replica__": "a"}, K8S, True),  # Cortex / Mimir HA tracker
        (K8S, K8S | {"cluster": "eu-2"}, False),  # another cluster's pipeline
        (K8S, K8S | {"prometheus": "monitoring/other"}, False),
        (K8S, K8S | {"alertname": "DeadMansSwitch"}, False),
    ],
)
def test_a_pipeline_is_named_by_its_heartbeat_alert_s_labels(a, b, same):
    assert (pipeline_id(a) == pipeline_id(b)) is same
    assert pipeline_id(a).startswith("heartbeat-p-") and pipeline_id(a) != heartbeat_id("")


def test_every_peer_s_delivery_of_one_watchdog_beats_the_same_heartbeat():
    """The field case's two peers, and a sender re-created under a new name: their externalURLs
    differ, their Watchdog's labels do not; a resolved Watchdog beats nothing."""
    urls = ["http://alertmanager-0:9093", "http://alertmanager-1:9093", "http://am-new.monitoring:9093"]
    found = [
        pipelines(AlertmanagerDelivery.model_validate(watchdog(u, prometheus="monitoring/k8s")).alerts)
        for u in urls
    ]
    assert len({tuple(f) for f in found}) == 1 and len(found[0]) == 1
    [(beat_id, labels)] = found[0].items()
    assert labels == pipeline_labels(labels) and labels["prometheus"] == "monitoring/k8s"
    resolved = AlertmanagerDelivery.model_validate(watchdog(urls[0], "resolved", prometheus="monitoring/k8s"))
    assert pipelines(resolved.alerts) == {}
    assert beat_id not in {heartbeat_id(u) for u in urls}


def test_a_label_set_of_any_size_makes_a_small_beat():
    """Labels are whatever Prometheus's rules and external labels say: the heartbeat keeps a
    bounded, clipped copy (its beat stays far below the update limit); the id hashes them all."""
    huge = K8S | {f"label_{n:03}": "v" * 10_000 for n in range(200)}
    kept = pipeline_labels(huge)
    assert len(kept) == SHOWN_LABELS and all(len(v) < LABEL_VALUE + 60 for v in kept.values())
    beat = Beat(alertmanager="http://am:9093", alert_name="Watchdog", pipeline=kept)
    assert too_large(beat) is None and len(beat.model_dump_json()) < 20_000
    assert pipeline_id(huge) != pipeline_id(huge | {"label_199": "w"})  # beyond the clip, still told apart


def test_a_beat_from_any_peer_rearms_the_one_window_and_the_peers_are_kept():
    state = HeartbeatState(started_at=T0)
    record_beat(state, "http://am-0", "Watchdog", T0 + timedelta(minutes=4))
    record_beat(state, "http://am-1", "Watchdog", T0 + timedelta(minutes=8))
    record_beat(state, "http://am-0", "Watchdog", T0 + timedelta(minutes=12))
    assert state.beats == 3 and state.last_beat == T0 + timedelta(minutes=12)
    assert list(state.senders) == ["http://am-1", "http://am-0"]  # latest last
    for n in range(KEEP_SENDERS + 5):
        record_beat(state, f"http://am-{n}", "Watchdog", T0 + timedelta(minutes=20 + n))
    assert len(state.senders) == KEEP_SENDERS and f"http://am-{KEEP_SENDERS + 4}" in state.senders


@pytest.mark.parametrize(
    "offsets, until, silences",
    [
        ([4, 8, 12, 16, 20, 24], 30, []),  # two peers alternate: never 10 minutes without a beat
        ([4, 8, 12, 16, 20, 24], 34, [24]),  # all stop: one alarm, since the last beat
        ([4, 15, 16], 20, [4]),  # a gap of 11 minutes: silent from 4, ended at 15
        ([], 9, []),
        ([], 10, [0]),  # a window from the start with no beat at all
    ],
)
def test_silences_over_a_window(offsets, until, silences):
    beats = [(T0 + timedelta(minutes=m), f"http://am-{i % 2}") for i, m in enumerate(offsets)]
    found = silences_over(T0, beats, WINDOW, T0 + timedelta(minutes=until))
    assert [s.since for s in found] == [T0 + timedelta(minutes=m) for m in silences]
    assert all(s.noticed_at == s.since + WINDOW for s in found)


def test_the_retirement_notice_says_why_and_that_the_page_is_resolved():
    person = Retirement(by="ben.okafor@preskool.com", reason="cluster eu-1 decommissioned")
    text = retired_text("heartbeat-p-1", K8S, person, alarm=True)
    assert "retired by ben.okafor@preskool.com: cluster eu-1 decommissioned" in text
    assert "cluster=eu-1" in text and "page is resolved" in text
    moved = Retirement(by="preskool-irp receiver", reason="r", superseded_by="heartbeat-p-2")
    assert "superseded by heartbeat-p-2" in retired_text("heartbeat-1", None, moved, alarm=False)


# --- the kind, searched: beats from several peers of one or two pipelines ------------------------

PEERS = [f"http://alertmanager-{i}.alertmanager-operated:9093" for i in range(4)]
REPLICAS = [{}, {"prometheus_replica": "prometheus-k8s-0"}, {"prometheus_replica": "prometheus-k8s-1"}]
BEATS = st.lists(
    st.tuples(
        st.integers(0, 180 * 60),  # seconds after the start
        st.sampled_from(PEERS),
        st.sampled_from(REPLICAS),
        st.sampled_from(["eu-1", "eu-2"]),  # which pipeline
    ),
    max_size=60,
)


def gaps(offsets: list[int], horizon: int, window: int) -> list[int]:
    """The oracle: where a gap of at least `window` seconds opens in the merged timeline (from the
    start, through every beat, to the horizon), counted from its first instant."""
    points = [0, *sorted(offsets)]
    found = [a for a, b in zip(points, points[1:], strict=False) if b - a >= window]
    return found + ([points[-1]] if horizon - points[-1] >= window else [])


@budget(300)
@given(beats=BEATS, horizon=st.integers(0, 200 * 60), window=st.integers(60, 30 * 60))
def test_any_peer_keeps_its_pipeline_alive_and_only_the_pipeline_s_silence_pages(beats, horizon, window):
    """Whichever peers send, in any order, with any replica label: one heartbeat per pipeline, and
    its alarms are exactly the gaps of at least a window in that pipeline's merged beats (a peer
    that stops pages nobody while another beats; all stopping pages once)."""
    at = [(T0 + timedelta(seconds=s), peer, K8S | {"cluster": c} | r) for s, peer, r, c in beats]
    routed = route_beats(at)
    assert set(routed) <= {pipeline_id(K8S | {"cluster": c}) for c in ("eu-1", "eu-2")}
    for cluster in ("eu-1", "eu-2"):
        mine = [s for s, _, _, c in beats if c == cluster and s <= horizon]
        found = silences_over(
            T0,
            routed.get(pipeline_id(K8S | {"cluster": cluster}), []),
            timedelta(seconds=window),
            T0 + timedelta(seconds=horizon),
        )
        expected = gaps(mine, horizon, window)
        assert [s.since for s in found] == [T0 + timedelta(seconds=s) for s in expected]


@budget(200)
@given(beats=BEATS, rename=st.permutations(PEERS))
def test_who_sends_never_changes_what_pages(beats, rename):
    """Peers taking over from each other, or re-created under new names: the same beat times give
    the same alarms (senders renamed by any permutation, or all one sender)."""
    at = [(T0 + timedelta(seconds=s), peer, K8S | r) for s, peer, r, _ in beats]
    renamed = [(t, rename[PEERS.index(p)], labels) for t, p, labels in at]
    one = [(t, PEERS[0], labels) for t, _, labels in at]
    until = T0 + timedelta(hours=4)
    alarms = [
        [(s.since, s.ended_at) for b in route_beats(x).values() for s in silences_over(T0, b, WINDOW, until)]
        for x in (at, renamed, one)
    ]
    assert alarms[0] == alarms[1] == alarms[2]
