"""The layering rules of shared/DESIGN.md, checked on the import graph (module-level and
function-level imports, followed transitively through batteryfx's own modules):

- solvers never import the shell (case schema, CLI, run pipeline, outputs, geometry_args);
- geometry builders never import the case schema, the shell or the solvers;
- materials import neither DOLFINx nor the shell;
- post-processing reads output files: nothing it imports, directly or through batteryfx
  modules, imports DOLFINx, PETSc, UFL or basix (``batteryfx plot`` runs with PyVista alone).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: source folder -> package name (pyproject.toml's package-dir)
PACKAGES = {"batteryfx": "batteryfx", "geometry": "batteryfx.geometry",
            "materials": "batteryfx.materials", "solvers": "batteryfx.solvers",
            "post": "batteryfx.post"}
SHELL = ("batteryfx.case", "batteryfx.cli", "batteryfx.run", "batteryfx.output",
         "batteryfx.geometry_args", "batteryfx.physics")
FEM = ("dolfinx", "petsc4py", "ufl", "basix", "dolfinx_solver")
#: imports that are not a violation where they are: the package root imports dolfinx_solver
#: only when the wheel is installed (MPI load order) and dolfinx only inside check_dolfinx(),
#: which the run pipeline calls
ALLOWED = {("batteryfx", "dolfinx"), ("batteryfx", "dolfinx_solver")}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
    return out


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module name ``source`` imports anywhere (also inside functions); for
    ``from a import b`` both ``a`` and ``a.b`` (the latter may be a module)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: imports_of(path.read_text(), name, path.name == "__init__.py")
            for name, path in modules.items()}


GRAPH = _graph()


def _closure(start: str) -> dict[str, str]:
    """Every module reachable from ``start`` -> the batteryfx module that imports it."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        mod = todo.pop()
        for dep in GRAPH.get(mod, ()):
            if dep in seen or (mod, dep) in ALLOWED:
                continue
            seen[dep] = mod
            # a module imports its parent packages too
            parts = dep.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in GRAPH and parent not in seen:
                    seen[parent] = mod
                    todo.append(parent)
            if dep in GRAPH:
                todo.append(dep)
    return seen


def _hits(names, forbidden) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


def _direct_violations(prefix: str, forbidden) -> list[str]:
    return [f"{mod} imports {hit}" for mod, deps in sorted(GRAPH.items())
            if mod == prefix or mod.startswith(prefix + ".")
            for hit in _hits(deps, forbidden)]


def test_the_graph_is_real():
    """The checker sees the modules and their imports (a contract over nothing passes)."""
    assert {"batteryfx.run", "batteryfx.solvers.heat", "batteryfx.geometry.pouch",
            "batteryfx.post.figures", "batteryfx.materials.library"} <= set(GRAPH)
    assert "batteryfx.solvers.heat" in _closure("batteryfx.run")
    assert _hits(GRAPH["batteryfx.solvers.heat"], FEM)  # heat does use DOLFINx


def test_checker_catches_violations():
    """A function-level import, a from-import of a submodule and a relative import are seen."""
    src = ("def f():\n    import dolfinx.fem\n"
           "from batteryfx import case\nfrom ..errors import CaseError\n")
    found = imports_of(src, "batteryfx.post.x")
    assert "dolfinx.fem" in found and "batteryfx.case" in found
    assert "batteryfx.errors" in found


def test_solvers_do_not_import_the_shell():
    assert _direct_violations("batteryfx.solvers", SHELL) == []


def test_geometry_does_not_import_the_case_or_solvers():
    assert _direct_violations("batteryfx.geometry", (*SHELL, "batteryfx.solvers")) == []


def test_materials_are_plain_data():
    assert _direct_violations("batteryfx.materials", (*SHELL, *FEM)) == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("batteryfx.post")))
def test_post_does_not_reach_dolfinx(module):
    """Nothing reachable from a post module imports DOLFINx, PETSc, UFL or basix."""
    reach = _closure(module)
    bad = [f"{name} (imported by {reach[name]})" for name in _hits(reach, FEM)
           if (reach[name], name) not in ALLOWED]
    assert bad == [], f"{module} reaches {bad}"
