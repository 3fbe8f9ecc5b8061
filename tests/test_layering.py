"""Imports go one way (docs/architecture.md, "Layers"): every `import` / `from ... import` of every
module of the package, at any depth (function-level imports included), is parsed with `ast` and
checked against the table below. A new module in a new top-level package fails until it is placed."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "openmsk"

# Top-level part of openmsk -> the other parts it may import. Leaves (util, config) import nothing of
# openmsk. Layers: cli -> server/app -> services -> control -> runtime/telemetry; api is the wire layer.
LEAVES = {"util", "config"}
ALLOWED = {
    "util": set(),
    "config": set(),
    "runtime": LEAVES,
    "telemetry": LEAVES | {"runtime", "control"},      # control minus the reconciler (FORBIDDEN_MODULES)
    "control": LEAVES | {"runtime", "telemetry"},
    "api": LEAVES,
    "services": LEAVES | {"api", "control", "telemetry"},
    "app": LEAVES | {"api", "control", "services", "telemetry"},
    "server": LEAVES | {"api", "app", "console"},
    "console": LEAVES | {"api", "app", "services", "control", "telemetry"},   # the web console (services level)
    "cli": LEAVES | {"app", "server", "console", "services", "control", "runtime", "telemetry", "api", "awscli_plugin"},
    "awscli_plugin": LEAVES | {"cli"},
    "__main__": {"cli"},
    "__init__": set(),
}
# Specific modules a part must not import even though it may import the part they live in.
FORBIDDEN_MODULES = {
    "telemetry": ("openmsk.control.reconciler", "openmsk.control.plane"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import of an openmsk module in `path`."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                if node.module:
                    found.append((node.lineno, ".".join(base + [node.module])))
                else:
                    found += [(node.lineno, ".".join(base + [alias.name])) for alias in node.names]
            elif node.module:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "openmsk" or name.startswith("openmsk.")]


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _part(_module_name(path))
        if source not in ALLOWED:
            problems.append(f"{path.relative_to(PACKAGE.parent)}: part '{source}' is not placed in a layer "
                            f"(add it to ALLOWED in tests/test_layering.py and to docs/architecture.md)")
            continue
        for line, target in _imports(path):
            dest = _part(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if dest != source and dest not in ALLOWED[source]:
                problems.append(f"{where}: {source} must not import {target}")
            for forbidden in FORBIDDEN_MODULES.get(source, ()):
                if target == forbidden or target.startswith(forbidden + "."):
                    problems.append(f"{where}: {source} must not import {target}")
    return problems


def test_imports_go_one_way():
    assert violations() == []


@pytest.mark.parametrize("source, target", [
    ("services", "openmsk.runtime.versions"), ("control", "openmsk.services.kms"), ("control", "openmsk.app"),
    ("api", "openmsk.control.plane"), ("runtime", "openmsk.control.model"), ("telemetry", "openmsk.services"),
    # application-autoscaling grows storage through the kafka service; loop devices stay the runtime's
    ("services", "openmsk.runtime.volumes"),
])
def test_the_table_forbids_the_directions_issue_8_names(source, target):
    # The check above would pass vacuously if the table allowed everything.
    assert _part(target) not in ALLOWED[source]


def test_telemetry_never_imports_the_reconciler(tmp_path, monkeypatch):
    fake = tmp_path / "openmsk"
    (fake / "telemetry").mkdir(parents=True)
    (fake / "telemetry" / "bad.py").write_text("def f():\n    from ..control.reconciler import ClusterReconciler\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert violations() == ["openmsk/telemetry/bad.py:2: telemetry must not import openmsk.control.reconciler"]
