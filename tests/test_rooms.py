"""The product and the dev tooling live apart (issue 22, item 6): the sandbox's fakes, the dev stack
(`make up`, `make demo`, the dev server), the tests and the benchmarks are neither installed by the
product's package nor copied into its image, and no product module imports them or a package only
they need. The product is what pyproject.toml installs (tests/rooms.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from tests.rooms import (
    DEV,
    PRODUCT,
    PYPROJECT,
    ROOT,
    imports_of,
    product_sources,
    python_files,
    undeclared,
)

DEPENDENCIES = PYPROJECT["project"]["dependencies"]
DEV_EXTRA = PYPROJECT["project"]["optional-dependencies"]["dev"]
DOCKERFILE = ROOT / "Dockerfile"
# What the image holds besides the product's code: the build's metadata, the executors' scripts and
# the post-mortem template.
IMAGE_DATA = {"pyproject.toml", "README.md", "scripts", "docs"}


def test_every_folder_of_python_is_the_product_or_dev_tooling():
    """A new top-level package is either installed (pyproject.toml) or named as dev tooling here:
    never shipped or left out by accident."""
    tops = {p.stem for p in ROOT.glob("*.py")} | {
        d.name for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".") and any(d.glob("*.py"))
    }
    assert tops - PRODUCT - DEV == set()
    assert PRODUCT & DEV == set()
    assert {"sandbox", "devstack"} <= tops and {"cli", "connection", "incident_client"} <= PRODUCT


def test_no_product_module_imports_dev_tooling():
    """Not the sandbox, the dev stack, the demo, the tests or the benchmarks: the product runs without
    them (worker.py once imported its search attributes from the dev server)."""
    sources = product_sources()
    assert len(sources) > 60 and ROOT / "worker.py" in sources and ROOT / "cli" / "main.py" in sources
    assert imports_of(sources, DEV) == []


def test_the_import_check_finds_dev_imports_anywhere_in_a_module(tmp_path):
    (tmp_path / "leaky.py").write_text(
        "import os\nimport devstack.devserver\n\n\ndef later():\n    from sandbox.slack import SlackFake\n"
        "    from . import sibling\n    return SlackFake, sibling\n"
    )
    found = imports_of([tmp_path / "leaky.py"], DEV, root=tmp_path)
    assert found == ["leaky.py: devstack", "leaky.py: sandbox"]


def test_the_product_imports_only_what_its_own_dependencies_install():
    """No product module imports a package that only the tests or the dev extra install (the
    sandbox's trustme, aiosmtpd and jsonschema once shipped in the product)."""
    assert undeclared(product_sources(), DEPENDENCIES) == []


def test_the_dev_extra_installs_what_the_sandbox_and_the_dev_stack_import():
    assert undeclared(python_files({"sandbox", "devstack"}), DEPENDENCIES + DEV_EXTRA) == []


def test_the_dependency_check_finds_a_package_the_product_does_not_declare(tmp_path):
    module = tmp_path / "fake.py"
    module.write_text("import trustme\nimport aiosmtpd.controller\nimport yaml\nimport json\n")
    found = undeclared([module], DEPENDENCIES)
    assert [line.split(" ")[0] for line in found] == ["aiosmtpd", "trustme"]  # yaml is PyYAML, declared


def test_make_install_installs_the_dev_extra_with_the_tests():
    """`make demo`, `make up` and `make test` from a fresh clone need the dev extra."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-e '\.\[test,dev\]'", makefile)
    assert re.search(r"^\t\$\(PY\) -m devstack\.demo$", makefile, re.M)
    assert re.search(r"^\t\$\(PY\) -m devstack\.stack up$", makefile, re.M)


def image_copies() -> list[tuple[list[str], str]]:
    """The Dockerfile's COPY instructions: (sources, destination)."""
    copies = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            *sources, destination = [part for part in line.split()[1:] if not part.startswith("--")]
            copies.append((sources, destination))
    return copies


def test_the_image_copies_the_product_and_no_dev_tooling():
    sources = [source for sources, _ in image_copies() for source in sources]
    tops = {source.split("/")[0].removesuffix(".py") for source in sources}
    assert "." not in tops and "*" not in "".join(sources), "the image copies whole folders by name"
    assert tops & DEV == set(), f"the image copies dev tooling: {tops & DEV}"
    assert tops - PRODUCT - IMAGE_DATA == set()
    assert PRODUCT <= tops


def build_context(into: Path) -> Path:
    """What the image's `pip install .` sees: exactly the files the Dockerfile copies, placed as it
    places them in its WORKDIR."""
    for sources, destination in image_copies():
        for source in sources:
            origin = ROOT / source
            if destination.endswith("/") or len(sources) > 1:
                target = into / destination / origin.name
            else:
                target = into / destination
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, target)
    return into


def test_the_wheel_the_image_installs_holds_the_product_and_nothing_else(tmp_path):
    """A real wheel, built offline from the image's build context: its top-level packages are the
    product's, its `irp` command is the CLI's, and the dev tools are only an extra."""
    context = build_context(tmp_path / "app")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("preskool_irp-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    tops = {name.split("/")[0].removesuffix(".py") for name in names if not name.startswith(info)}
    assert tops == PRODUCT
    assert "cli/main.py" in names and "connection/search_attributes.py" in names
    assert re.search(r"^irp = cli\.main:main$", entry_points, re.M)
    always = {re.split(r"[ ;<>=\[]", r)[0] for r in metadata.get_all("Requires-Dist") if "extra ==" not in r}
    dev_only = {re.split(r"[ ;<>=\[]", r)[0] for r in DEV_EXTRA}
    assert always & dev_only == set() and "temporalio" in always
