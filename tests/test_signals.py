"""The signal table is the one place a signal is declared: the workflow's handlers, the Web UI's
descriptions, the CLI's commands and the authority check all come from it."""

from __future__ import annotations

import inspect

import pytest

from cli import main as irp
from cli.commands import payload_of
from plan.decide import gate
from plan.models import GatedAction
from plan.signals import json_shape
from workflows import IncidentWorkflow
from workflows.signals import SIGNALS


def test_names_are_unique_and_every_signal_has_a_pure_decider():
    """Each signal names its decider in plan/decide/: a plain function, no workflow code."""
    assert len({s.name for s in SIGNALS}) == len(SIGNALS)
    for signal in SIGNALS:
        assert inspect.isfunction(signal.decide), signal.name
        assert signal.decide.__module__.startswith("plan.decide."), signal.name
        assert len(inspect.signature(signal.decide).parameters) == 3, signal.name  # (draft, input, actor)


def test_the_workflow_has_one_described_handler_per_signal():
    defined = IncidentWorkflow.__temporal_workflow_definition.signals
    assert defined[None].description.startswith("Any other name: refused")  # the dynamic handler
    for signal in SIGNALS:
        assert defined[signal.name].description == signal.description
        assert json_shape(signal.model) in signal.description


def test_every_gated_action_is_checked_somewhere():
    """Each key of `authority` is a signal's gate, or force_resolve, which the gate checks itself."""
    gates = {s.authority for s in SIGNALS if s.authority} | {GatedAction.force_resolve}
    assert gates == set(GatedAction)
    assert "GatedAction.force_resolve" in inspect.getsource(gate)


@pytest.mark.parametrize("signal", [s for s in SIGNALS if s.cli], ids=lambda s: s.cli.command)
def test_every_cli_command_sends_its_signals_json(signal):
    """Each command parses into exactly the JSON the model accepts."""
    args = ["--by", "asha.rao@preskool.com"]
    values = {
        "severity": "P1",
        "role": "oncall_primary",
        "person": "sam.lee@preskool.com",
        "action": "rollback",
        "target": "backend",
        "request_id": "rollback-1",
        "deliverable": "incident_report",
        "item": "0",
    }
    positional = [values[name] for name in signal.cli.positional]
    for name, field in signal.model.model_fields.items():
        if (
            (field.is_required() or name in signal.cli.required)
            and name != "by"
            and name not in signal.cli.positional
            and name not in signal.cli.defaults
        ):
            flag = "--" + signal.cli.flags.get(name, name).replace("_", "-")
            example = {"scope": "all", "owner": "ben.okafor@preskool.com"}.get(name, "some text")
            args += [flag, example]
    parsed = irp.parser().parse_args([signal.cli.command, "inc-x", *positional, *args])
    payload = payload_of(signal, parsed)
    assert signal.model.model_validate(payload).by == "asha.rao@preskool.com"
    assert irp.COMMANDS[signal.cli.command] is signal
