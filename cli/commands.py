"""The CLI's signal commands, made from the incident's signal table: each model field is an
argument (positional or `--flag`), with its type, choices, default and help from the model."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from enum import Enum
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from workflows.signals import Signal


def add_signal_commands(sub: argparse._SubParsersAction, signals: Iterable[Signal]) -> None:
    """One subcommand per signal with a `cli`: `INCIDENT`, the positional fields, then flags."""
    for signal in signals:
        command = sub.add_parser(signal.cli.command, help=signal.cli.help, description=signal.summary)
        command.add_argument("incident")
        for name, field in signal.model.model_fields.items():
            if name != "attestation":  # made by the receiver for a Slack action, never typed
                _add_field(command, signal, name, field)


def payload_of(signal: Signal, args: argparse.Namespace) -> dict[str, Any]:
    """The JSON the signal's model takes, from the parsed arguments (unset ones left out)."""
    payload = {}
    for name, field in signal.model.model_fields.items():
        value = getattr(args, name, None)
        if value is None or value is False or value == []:  # 0 is a value (`irp tick … 0`)
            continue
        if get_origin(_bare(field.annotation)) is dict:
            value = dict(_pair(v) for v in value)
        payload[name] = value
    return payload


def _add_field(command: argparse.ArgumentParser, signal: Signal, name: str, field) -> None:
    cli, annotation = signal.cli, _bare(field.annotation)
    options: dict[str, Any] = {"help": field.description}
    if choices := _choices(annotation):
        options["choices"] = choices
    if annotation is bool:
        options["action"] = "store_true"
    elif annotation is int:
        options["type"] = int
    elif get_origin(annotation) in (list, dict):
        options.update(action="append", default=[])
        if get_origin(annotation) is dict:
            options["help"] = options["help"] or "K=V, repeatable"
    if name in cli.positional:
        command.add_argument(name, **options)
        return
    if name in cli.defaults:
        options["default"] = cli.defaults[name]
    elif (field.is_required() or name in cli.required) and annotation is not bool:
        options["required"] = True
    flag = "--" + cli.flags.get(name, name).replace("_", "-")
    command.add_argument(flag, dest=name, **options)


def _bare(annotation: Any) -> Any:
    """`X | None` → X."""
    if get_origin(annotation) in (Union, UnionType):
        return next(a for a in get_args(annotation) if a is not type(None))
    return annotation


def _choices(annotation: Any) -> list[str] | None:
    if get_origin(annotation) is Literal:
        return [str(a) for a in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [m.value for m in annotation]
    return None


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--param takes K=V, not {text!r}")
    return key, value
