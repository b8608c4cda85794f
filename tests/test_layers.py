"""The layers hold: imports only point down (core <- stores <- run <- stages <- cli/cluster <- testing),
the module graph has no cycle, the product does not ship its test tooling (no product module imports
`gcs2s3.testing` but the `demo` command, when it runs; importing the whole product loads neither it nor
the emulators), and there is one error tree."""

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


# Each package's place in the layering; a module may import only from its own layer or the ones below.
LAYERS = {"core": 0, "stores": 1, "run": 2, "stages": 3, "cli": 4, "cluster": 4, "__init__": 4, "__main__": 5,
          "testing": 5}
# The one import up the layers: the `demo` command runs the test tooling, imported only when it runs.
UPWARD = {("gcs2s3.cli.app", "gcs2s3.testing.demo")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(("gcs2s3", *parts[:-1])) if parts[-1] == "__init__" else ".".join(("gcs2s3", *parts))


def layer(module: str) -> int:
    """gcs2s3.run.sync -> the rank of `run`; the package itself (gcs2s3) is its curated __init__."""
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "__init__"]


def product_imports() -> dict[str, set[str]]:
    """{module: the gcs2s3 modules it imports (at any depth of its code)}."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = set()
        for _, imported in imports_of(path):
            # `from gcs2s3.x import y` names module gcs2s3.x.y or attribute y of gcs2s3.x
            target = imported if imported in modules else imported.rpartition(".")[0]
            if target.startswith("gcs2s3") and target in modules and target != name:
                graph[name].add(target)
    return graph


def test_imports_only_point_down_the_layers() -> None:
    back_edges = [f"{a} ({layer(a)}) imports {b} ({layer(b)})"
                  for a, targets in product_imports().items() for b in targets
                  if b != "gcs2s3" and layer(b) > layer(a) and (a, b) not in UPWARD]
    assert back_edges == []
    # No product module reaches for the curated surface or the CLI (they sit on top).
    on_top = [f"{a} imports {b}" for a, targets in product_imports().items() for b in targets
              if (b == "gcs2s3" or b.startswith("gcs2s3.cli")) and not a.startswith(("gcs2s3.cli", "gcs2s3.testing"))
              and a != "gcs2s3.__main__"]
    assert on_top == []


def test_the_module_graph_has_no_cycle() -> None:
    graph = product_imports()
    state: dict[str, int] = {}  # 1 on the path, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == "gcs2s3":
                continue
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_product_module_imports_the_test_tooling() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "testing" in path.relative_to(PACKAGE).parts:
            continue
        for where, module in imports_of(path):
            if module.startswith("gcs2s3.testing") and (path.name, where) != ("app.py", "demo"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{where} imports {module}")
    assert offenders == []


def test_importing_the_product_loads_no_test_tooling() -> None:
    code = (
        "import sys, gcs2s3, gcs2s3.cli.app, gcs2s3.cluster, gcs2s3.stages.thumbnails, gcs2s3.stages.wordpress;"
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


def test_the_curated_surface_resolves_and_loads_lazily() -> None:
    """Every exported name resolves, and importing the package alone loads no SDK (a drawing process
    imports a module of it)."""
    import gcs2s3

    assert sorted(gcs2s3.__all__) == sorted(gcs2s3._EXPORTS)
    assert all(getattr(gcs2s3, name) is not None for name in gcs2s3.__all__)
    code = ("import sys, gcs2s3.stages.thumbnails.thumbnailer; "
            "bad = [m for m in ('boto3', 'google.cloud.storage', 'requests') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cli_loads_only_what_a_scheduled_sync_uses() -> None:
    """Importing the CLI (what every scheduled run pays before any data moves: ~0.35 s of CPU and
    ~70 MiB) loads no thumbnail drawing, WordPress client, Dask, boto3 (botocore is enough) or rich
    (only a terminal's progress display and the human report table use it)."""
    code = ("import sys, gcs2s3.cli.app; "
            "bad = [m for m in ('pyvips', 'dask', 'distributed', 'boto3', 's3transfer', 'rich', "
            "'gcs2s3.stages.thumbnails.render', 'gcs2s3.stages.wordpress.site') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
