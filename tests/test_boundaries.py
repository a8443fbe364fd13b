"""The shape of the house: data flows one way, the SDK imports nothing heavy, and no module grows past reading.

The layer picture (a package may import only packages on a lower floor; nothing on its own floor but itself):

    floor 4  driftline                                  the CLI, demo, replay, the report's data loading
    floor 3  collector   alerting   dashboards   report    storage and evaluation; rules, dashboards, the report
    floor 2  spec        clients                        the spec file; thin HTTP clients of Grafana and Alertmanager
    floor 1  slo                                        SLO math and the SLI rule generator
    floor 0  contract    sdk       analyzers            series table and error root; stdlib SDK; statistics

Function-level imports count like any other: a lazy import cannot hide an edge that runs back up a floor.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Each package's floor; a package may import packages on lower floors only.
FLOORS = {
    "contract": 0,
    "sdk": 0,
    "analyzers": 0,
    "slo": 1,
    "spec": 2,
    "collector": 3,
    "clients": 2,
    "alerting": 3,
    "dashboards": 3,
    "report": 3,
    "driftline": 4,
}
PACKAGES = tuple(FLOORS)
#: Narrower than the floors allow, where a package has no business with a lower one.
FORBIDDEN = {
    "slo": {"sdk"},
    "clients": {"analyzers", "slo", "spec"},  # thin clients carry bytes, they do not know the spec
    "report": {"sdk"},  # the report draws what it is handed; it reads nothing itself
}
#: Third-party modules the pure packages must never reach for.
IO_MODULES = {"sqlalchemy", "fastapi", "psycopg", "httpx", "requests", "urllib", "socket", "uvicorn", "time"}
#: Optional extras and heavy imports a module may defer into a function (the package imports without them).
LAZY_ALLOWED = {
    "shap", "alibi_detect", "torch", "sklearn", "xgboost", "lightgbm", "joblib",  # explain / multivariate
    "grafana_client", "grafana_foundation_sdk", "niquests", "dashboards",  # the grafana extra
    "numpy", "pandas", "pyarrow", "polars", "cupy", "jax",  # what the SDK accepts without depending on it
    "mlserver",  # sdk.integrations.mlserver builds its runtime class on MLServer's, in MLServer's process
    "distributed", "dask",  # the dask extra: `driftline replay --dask` connects to a cluster only when asked
}


def _modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(top-level module, line, inside a function?) for every absolute import in a file."""
    tree = ast.parse(path.read_text())

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name.split(".")[0], child.lineno, in_function
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.module.split(".")[0], child.lineno, in_function
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from walk(child, inner)

    yield from walk(tree, False)


def imports(package: str) -> set[str]:
    return {name for path in _modules(package) for name, _, _ in _imports(path)}


def test_every_package_has_a_floor() -> None:
    found = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in {"tests", "bench"}}
    assert found == set(FLOORS), "give a new package a floor in FLOORS and the picture above"


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_packages_on_lower_floors(package: str) -> None:
    upward = []
    for path in _modules(package):
        for name, line, _ in _imports(path):
            if name in FLOORS and name != package and (
                FLOORS[name] >= FLOORS[package] or name in FORBIDDEN.get(package, set())
            ):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not upward, "\n".join(upward)


def test_the_floors_leave_no_cycle() -> None:
    edges = {p: imports(p) & set(FLOORS) - {p} for p in PACKAGES}
    for package, targets in edges.items():
        for target in targets:
            assert package not in edges[target], f"{package} and {target} import each other"


def test_function_level_imports_are_only_optional_extras_with_a_reason() -> None:
    hidden = []
    for package in PACKAGES:
        for path in _modules(package):
            lines = path.read_text().splitlines()
            for name, line, in_function in _imports(path):
                if not in_function:
                    continue
                said_why = "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")
                if name not in LAZY_ALLOWED or not said_why:
                    hidden.append(f"{path.relative_to(ROOT)}:{line} imports {name} inside a function")
    assert not hidden, "\n".join(hidden)


@pytest.mark.parametrize("package", ["analyzers", "slo", "spec", "report", "contract"])
def test_the_pure_packages_do_no_io_and_read_no_clock(package: str) -> None:
    assert not imports(package) & IO_MODULES


def test_the_sdk_imports_with_the_standard_library_alone() -> None:
    code = (
        "import sys; import sdk; from sdk import Monitor, MockTransport; "
        "print(','.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(out.stdout.strip().split(","))
    third_party = loaded - set(sys.stdlib_module_names) - {"sdk", "__main__", "_distutils_hack", "sitecustomize"}
    third_party = {m for m in third_party if not m.startswith("__editable__")}
    assert third_party <= {"prometheus_client"}, sorted(third_party)


MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def test_no_module_is_longer_than_a_sitting() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for package in PACKAGES
        for path in _modules(package)
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, "\n".join(long)


def test_no_function_is_longer_than_a_screen_without_a_reason() -> None:
    long = []
    for package in PACKAGES:
        for path in _modules(package):
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse("\n".join(lines))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    reason = lines[first - 2].strip() if first > 1 else ""
                    if length > MAX_FUNCTION_LINES and not reason.startswith("# long because"):
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not long, "\n".join(long)
