"""docs/configuration.md is generated from the settings classes (deploy/configuration.py, `make
configuration`): it lists every variable each process reads, with its default and meaning, and it is
what the generator writes today."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from connection.temporal import TemporalSettings
from deploy.configuration import declaring_classes, own_fields, render
from deploy.environment import DEV_STACK, DIRECT, NOT_PASSED, PROCESSES, env_names, variables

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"


def rows(text: str) -> set[str]:
    """The variables the page has a table row for."""
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", text, re.M))


def test_the_page_is_what_the_generator_writes():
    assert PAGE.read_text() == render(), "docs/configuration.md is stale: run `make configuration`"


def test_make_configuration_writes_the_page_with_the_generator():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\t\$\(PY\) -m deploy\.configuration > docs/configuration\.md$", makefile, re.M)
    done = subprocess.run(
        [sys.executable, "-m", "deploy.configuration"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == PAGE.read_text()


def test_every_variable_a_process_reads_has_a_row():
    listed = rows(PAGE.read_text())
    for process in PROCESSES:
        assert variables(process) - listed == set(), process
    assert set(NOT_PASSED) | set(DEV_STACK) <= listed
    assert len(listed) > 60


def test_every_setting_says_what_it_does():
    """A new settings field without a description would leave its row's meaning empty."""
    classes = declaring_classes()
    assert TemporalSettings in classes and len(classes) >= 12
    unexplained = [
        f"{cls.__name__}.{name}"
        for cls in classes
        for name in own_fields(cls)
        if len((cls.model_fields[name].description or "").strip()) < 10
    ]
    assert unexplained == []


def test_every_variable_read_directly_has_a_default_and_a_meaning():
    fields = {name for cls in declaring_classes() for name in env_names(cls).values()}
    direct = set().union(*(reads.variables for reads in PROCESSES.values())) | set(NOT_PASSED)
    assert direct - fields - set(DIRECT) == set()
    assert "IRP_BUILD_ID" in fields and "IRP_DRILL" in DIRECT
    assert all(d.default and d.meaning for d in DIRECT.values())


def test_the_page_takes_each_meaning_from_the_field(monkeypatch):
    field = TemporalSettings.model_fields["temporal_namespace"]
    monkeypatch.setattr(field, "description", "Where the incidents live, said another way.")
    page = render()
    assert (
        "| `TEMPORAL_NAMESPACE` | worker, receiver, cli | `default` | Where the incidents live, said" in page
    )
    assert page != PAGE.read_text()


def test_every_variable_the_dev_stack_reads_is_on_the_page():
    """`make up` reads the product's variables (to pass them on) and its own (DEV_STACK)."""
    read = {
        name
        for path in (ROOT / "devstack").glob("*.py")
        for name in re.findall(r"""(?:\.get|\.pop|environ)[(\[]["']([A-Z][A-Z0-9_]+)["']""", path.read_text())
    }
    assert {"IRP_UI_PORT", "IRP_SANDBOX", "TEMPORAL_ADDRESS"} <= read  # the scan reads
    assert read - rows(PAGE.read_text()) == set()
