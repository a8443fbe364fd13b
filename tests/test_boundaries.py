"""The shape of the house: data flows one way, and the SDK imports nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contract", "sdk", "analyzers", "slo", "spec", "collector", "alerting", "dashboards", "driftline")

#: What each package may import from the others (sdk -> collector -> analyzers -> slo -> ...).
ALLOWED = {
    "contract": set(),
    "sdk": set(),
    "analyzers": set(),
    "slo": {"analyzers"},
    "spec": {"sdk", "analyzers", "slo"},
    "collector": {"sdk", "analyzers", "slo", "spec"},
    "alerting": {"slo", "spec"},
    "dashboards": {"slo", "alerting", "spec"},
    "driftline": {"sdk", "collector", "analyzers", "slo", "spec", "alerting", "dashboards"},
}
#: Third-party modules the pure packages must never reach for.
IO_MODULES = {"sqlalchemy", "fastapi", "psycopg", "httpx", "requests", "urllib", "socket", "uvicorn", "time"}


def imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_packages_upstream_of_it(package: str) -> None:
    internal = imports(package) & set(PACKAGES) - {package}
    assert internal <= ALLOWED[package], f"{package} imports {sorted(internal - ALLOWED[package])}"


@pytest.mark.parametrize("package", ["analyzers", "slo"])
def test_the_math_packages_do_no_io_and_read_no_clock(package: str) -> None:
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
