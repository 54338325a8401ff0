"""The package's stages point only forward, from the import graph of every file.

Stage order: sources → warehouse → market → features → forecast → allocate → backtest →
reports. A stage module may import its own stage, earlier stages and the ground modules;
ground modules (errors, typing, seeding, training (the one early-stopping loop), parallel
(the one process pool), atomic,
calendar (the NYSE trading days), universe (the universe file schema), quality (pure checks
the sources validate with)) import only ground modules; the facade modules
(``riskalloc/__init__``, ``api``, ``estimator``, ``datasets``, ``synthetic``, ``cli``) may
import anything and nothing but another facade module imports them. No two files import
each other, directly or around a loop. Imports under ``TYPE_CHECKING`` and inside functions
count too: they are the coupling.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "riskalloc"
ORDER = (
    "sources",
    "warehouse",
    "market",
    "features",
    "forecast",
    "allocate",
    "backtest",
    "reports",
)
GROUND = (
    "errors",
    "typing",
    "seeding",
    "training",
    "parallel",
    "atomic",
    "calendar",
    "universe",
    "quality",
)
FACADE = ("api", "estimator", "datasets", "synthetic", "cli")


def module_name(path: Path) -> str:
    """Dotted module name of a file under riskalloc/."""
    parts = ("riskalloc", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


def _imports(path: Path, mod: str) -> set[str]:
    """riskalloc modules imported by ``path``; ``from pkg import sub`` depends on pkg.sub."""
    deps: set[str] = set()
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against the package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = ROOT.parent / f"{base}.{alias.name}".replace(".", "/")
                is_module = sub.with_suffix(".py").exists() or sub.is_dir()
                deps.add(f"{base}.{alias.name}" if is_module else base)
        elif isinstance(node, ast.Import):
            deps.update(a.name for a in node.names)
    return {d for d in deps if d == "riskalloc" or d.startswith("riskalloc.")}


def import_graph() -> dict[str, set[str]]:
    """Module -> riskalloc modules it imports, for every file of the package."""
    return {module_name(p): _imports(p, module_name(p)) for p in sorted(ROOT.rglob("*.py"))}


def kind(mod: str) -> tuple[str, int]:
    """("stage", index), ("ground", 0) or ("facade", 0) of a riskalloc module."""
    parts = mod.split(".")
    head = parts[1] if len(parts) > 1 else "__init__"
    if head in ORDER:
        return "stage", ORDER.index(head)
    if head in GROUND:
        return "ground", 0
    if head in FACADE or head == "__init__":
        return "facade", 0
    raise AssertionError(f"{mod}: not in a stage, a ground module or the facade; classify it")


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every backward, ground-to-stage or into-facade import of the graph."""
    bad = []
    for mod, deps in sorted(graph.items()):
        k, s = kind(mod)
        for dep in sorted(deps):
            dk, ds = kind(dep)
            if k == "facade":
                continue
            if dk == "facade":
                bad.append(f"{mod} imports the facade module {dep}")
            elif k == "ground" and dk == "stage":
                bad.append(f"ground module {mod} imports the stage module {dep}")
            elif k == "stage" and dk == "stage" and ds > s:
                bad.append(f"{mod} ({ORDER[s]}) imports {dep} ({ORDER[ds]}), a later stage")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """File-level import cycles (two files or more), by depth-first search."""
    mods = set(graph)

    def resolve(d: str) -> str:
        while d and d not in mods:
            d = d.rpartition(".")[0]
        return d

    adj = {m: sorted({r for r in map(resolve, ds) if r and r != m}) for m, ds in graph.items()}
    color: dict[str, int] = {}
    found: list[list[str]] = []

    def dfs(u: str, path: list[str]) -> None:
        color[u] = 1
        path.append(u)
        for v in adj[u]:
            if color.get(v) == 1:
                found.append([*path[path.index(v) :], v])
            elif not color.get(v):
                dfs(v, path)
        path.pop()
        color[u] = 2

    for m in sorted(mods):
        if not color.get(m):
            dfs(m, [])
    return found


def test_every_module_is_classified_and_the_graph_is_not_empty() -> None:
    graph = import_graph()
    assert len(graph) > 50
    for mod in graph:
        kind(mod)
    assert any("riskalloc.market" in deps for deps in graph.values())


def test_stages_import_only_earlier_stages_and_ground_modules() -> None:
    bad = violations(import_graph())
    assert not bad, "stage order broken:\n" + "\n".join(bad)


def test_no_import_cycles_between_files() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_check_sees_a_backward_import_and_a_cycle() -> None:
    """The checker itself: a planted backward import and a planted cycle are reported."""
    graph = {
        "riskalloc.warehouse.store": {"riskalloc.warehouse.mirror", "riskalloc.errors"},
        "riskalloc.warehouse.mirror": {"riskalloc.warehouse.store"},
        "riskalloc.allocate.explain": {"riskalloc.reports.render"},
        "riskalloc.reports.render": set(),
        "riskalloc.errors": {"riskalloc.backtest.engine"},
        "riskalloc.backtest.engine": {"riskalloc.estimator"},
        "riskalloc.estimator": {"riskalloc.backtest.engine"},
        "riskalloc.market": set(),
    }
    bad = violations(graph)
    assert any("allocate.explain (allocate) imports riskalloc.reports.render" in b for b in bad)
    assert any("ground module riskalloc.errors" in b for b in bad)
    assert any("imports the facade module riskalloc.estimator" in b for b in bad)
    assert [
        "riskalloc.warehouse.mirror",
        "riskalloc.warehouse.store",
        "riskalloc.warehouse.mirror",
    ] in cycles(graph) or [
        "riskalloc.warehouse.store",
        "riskalloc.warehouse.mirror",
        "riskalloc.warehouse.store",
    ] in cycles(graph)
