"""The product does not ship its test tooling: no product module imports `gcs2s3.testing` (only the
`demo` command, when it runs), and importing the whole product loads neither it nor the emulators."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "gcs2s3"


def imports_of(path: Path) -> list[tuple[str, str]]:
    """(enclosing function or "<module>", imported module) for every import in a file."""
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else where
            if isinstance(child, ast.Import):
                found.extend((where, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.extend((where, f"{child.module}.{alias.name}") for alias in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), "<module>")
    return found


def test_no_product_module_imports_the_test_tooling() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "testing" in path.relative_to(PACKAGE).parts:
            continue
        for where, module in imports_of(path):
            if module.startswith("gcs2s3.testing") and (path.name, where) != ("cli.py", "demo"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{where} imports {module}")
    assert offenders == []


def test_importing_the_product_loads_no_test_tooling() -> None:
    code = (
        "import sys, gcs2s3, gcs2s3.cli, gcs2s3.sync, gcs2s3.cluster, gcs2s3.verify, gcs2s3.stages.thumbnails;"
        "bad = sorted(m for m in sys.modules if m.startswith(('gcs2s3.testing', 'moto', 'fake_gcs_server')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_error_tree() -> None:
    """Every exception class of the product is defined in errors.py (the test tooling keeps its own)."""
    elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" or "testing" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", "")).endswith(("Error", "Exception", "NotSized"))
                for base in node.bases
            ):
                elsewhere.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert elsewhere == []
