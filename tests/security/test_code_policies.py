"""Source-level policies: servers bind loopback by default, and every ``torch.load`` uses
``weights_only=True`` (a pickled model file can otherwise run arbitrary code)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("riskalloc", "pipelines", "scripts", "benchmarks")
CONFIG_GLOBS = ("Makefile", "*.yaml", "*.yml", "*.toml", ".ci/*", "docker*", "Dockerfile*")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def python_files() -> list[Path]:
    return sorted(p for d in CODE_DIRS if (REPO / d).is_dir() for p in (REPO / d).rglob("*.py"))


def config_files() -> list[Path]:
    return sorted({p for g in CONFIG_GLOBS for p in REPO.glob(g) if p.is_file()})


def make_recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile target."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{target}\s*:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_dev_binds_loopback():
    servers = [
        c
        for c in make_recipe("dev")
        if re.search(r"dagster(-webserver)?\s+dev|dagster-webserver", c)
    ]
    assert servers, "no dagster server started by `make dev`"
    for cmd in servers:
        host = re.search(r"(?:-h|--host)[ =](\S+)", cmd)
        assert host is not None, f"`make dev` runs {cmd!r} without -h (dagster's default host)"
        assert host.group(1) in LOOPBACK, cmd


def test_no_code_or_config_binds_all_interfaces():
    offenders = []
    for p in [*python_files(), *config_files()]:
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if re.search(r"0\.0\.0\.0|\[::\]|host\s*=\s*[\"']{2}", line):
                offenders.append(f"{p.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []
    workspace = (REPO / "workspace.yaml").read_text()
    assert "host:" not in workspace or re.search(r"host:\s*(127\.0\.0\.1|localhost)", workspace)


SERVER_CALLS = {"HTTPServer", "ThreadingHTTPServer", "TCPServer", "bind", "run", "serve"}


def non_loopback_binds(path: Path, root: Path = REPO) -> list[str]:
    """Server/socket binds in ``path`` whose host is not a loopback literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        host_kw = [k for k in node.keywords if k.arg == "host"]
        if name not in SERVER_CALLS or (name in {"run", "serve"} and not host_kw):
            continue
        first = node.args[0] if node.args else None
        hosts = [k.value for k in host_kw]
        if isinstance(first, ast.Tuple) and first.elts:
            hosts.append(first.elts[0])
        literal = [h.value for h in hosts if isinstance(h, ast.Constant)]
        if not hosts or len(literal) < len(hosts) or any(h not in LOOPBACK for h in literal):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_servers_in_code_bind_loopback():
    """Any HTTP server/socket bound in our code names a loopback host literally."""
    assert [hit for p in python_files() for hit in non_loopback_binds(p)] == []


def test_the_bind_scan_catches_open_binds(tmp_path):
    src = tmp_path / "s.py"
    src.write_text(
        "HTTPServer(('', 80), H)\n"
        "sock.bind(('0.0.0.0', 1))\n"
        "uvicorn.run(app, host=HOST)\n"
        "ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
        "app.run(host='localhost')\n"
        "job.run()\n"
    )
    assert non_loopback_binds(src, tmp_path) == ["s.py:1", "s.py:2", "s.py:3"]


def unsafe_torch_loads(path: Path, root: Path = REPO) -> list[str]:
    """``torch.load(...)`` calls in ``path`` without a literal ``weights_only=True``."""
    tree = ast.parse(path.read_text(), str(path))
    aliases = {
        a.asname or a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "torch"
        for a in n.names
        if a.name == "load"
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        is_torch_load = (
            isinstance(f, ast.Attribute)
            and f.attr == "load"
            and isinstance(f.value, ast.Name)
            and f.value.id == "torch"
        ) or (isinstance(f, ast.Name) and f.id in aliases)
        if not is_torch_load:
            continue
        safe = any(
            k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        )
        if not safe:
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_torch_load_uses_weights_only():
    offenders = [hit for p in python_files() for hit in unsafe_torch_loads(p)]
    assert offenders == [], f"torch.load without weights_only=True at {offenders}"


def test_the_torch_load_scan_catches_unsafe_calls(tmp_path):
    """The scanner itself: it flags the unsafe forms and passes the safe one."""
    src = tmp_path / "m.py"
    src.write_text(
        "import torch\nfrom torch import load as tl\n"
        "torch.load('a')\n"
        "torch.load('b', weights_only=False)\n"
        "tl('c')\n"
        "torch.load('d', map_location='cpu', weights_only=True)\n"
    )
    assert unsafe_torch_loads(src, tmp_path) == ["m.py:3", "m.py:4", "m.py:5"]
