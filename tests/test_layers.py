"""The layers of the design (docs/design.md; README, Code map), checked on the source: every import goes down or stays
in its layer, never up, and no modules import each other round a loop, wherever the import statement stands (inside a
function or an ``if`` too).

The layer table, top to bottom (a module may import its own layer and the layers beneath it):

====  ========================================================  ================================================
rank  modules                                                   what
====  ========================================================  ================================================
7     ``tools``, ``benchmarks``, ``mixskd_mm.cli``              thin CLIs, timing scripts, the command lines
                                                                behind the tools and the console scripts
6     ``mixskd_mm.compare``                                     a comparison on a user's data
5     ``mixskd_mm.engine``, ``mixskd_mm.detectron2``              hooks, optimiser wrappers, what a run does first;
                                                                the Detectron2 backbone, configs and trainer (the
                                                                only package that imports Detectron2)
4     ``mixskd_mm.export``, ``mixskd_mm.visualization``         checkpoint -> backbone file, timm folders, model
                                                                cards, released checkpoints; a checkpoint's or a
                                                                timm folder's deployable model and its Grad-CAM
3     ``mixskd_mm.models``                                      backbones, exits, heads, losses, classifiers
2     ``mixskd_mm.datasets``, ``mixskd_mm.evaluation``          data and metrics
1     ``mixskd_mm.weights``                                     weights io: reading and writing weight files,
                                                                what a backbone file records, the sources
0     ``mixskd_mm`` (the package face), ``mixskd_mm.registry``,   ground
      ``mixskd_mm.utils``, ``mixskd_mm.compat``
====  ========================================================  ================================================

A module belongs to the longest entry its dotted name starts with (``mixskd_mm.models.backbones.stems`` -> rank 3).

Special cases, on purpose:

- ``mixskd_mm/__init__.py`` (the package face) only applies :mod:`mixskd_mm.compat`, so it is ground and any layer
  may ``import mixskd_mm``. Should the face ever import submodules to register them, it must move to the top of the
  table. Importing ``mixskd_mm.a.b`` also runs the ``__init__`` of ``mixskd_mm`` and ``mixskd_mm.a``: that is Python's
  doing, not an arrow, so only the module named (``mixskd_mm.a.b``, or ``mixskd_mm.a.b.c`` for
  ``from mixskd_mm.a.b import c`` when ``c`` is a module) is an edge, as in grimp.
- The registries' ``locations=['mixskd_mm.models', ...]`` (:mod:`mixskd_mm.registry`) are strings that MMEngine
  imports on the first build from a registry: the ground fills from above by design. They are not import statements
  and are not seen here.
- The standard library and third-party packages are not checked; nor are ``tests/`` (they may import any layer).
  A ``tools`` / ``benchmarks`` script importing a sibling script by its bare name (``from _step_runs import ...``)
  is resolved to that sibling.
"""
from __future__ import annotations

import ast
import os
from collections.abc import Iterator

from _helpers import ROOT

#: dotted-name prefix -> (rank, layer name)
LAYERS = {
    'tools': (7, 'tools/benchmarks'), 'benchmarks': (7, 'tools/benchmarks'), 'mixskd_mm.cli': (7, 'command lines'),
    'mixskd_mm.compare': (6, 'compare'),
    'mixskd_mm.engine': (5, 'engine'), 'mixskd_mm.detectron2': (5, 'detectron2'),
    'mixskd_mm.export': (4, 'export'), 'mixskd_mm.visualization': (4, 'visualization'),
    'mixskd_mm.models': (3, 'models'),
    'mixskd_mm.datasets': (2, 'datasets/evaluation'), 'mixskd_mm.evaluation': (2, 'datasets/evaluation'),
    'mixskd_mm.weights': (1, 'weights io'),
    'mixskd_mm': (0, 'ground'), 'mixskd_mm.registry': (0, 'ground'), 'mixskd_mm.utils': (0, 'ground'),
    'mixskd_mm.compat': (0, 'ground'),
}
#: the folders walked
TREES = ('mixskd_mm', 'tools', 'benchmarks')

Edge = tuple[str, str, str, int]  # (importer, imported, file, line)


def module_files(root: str = ROOT) -> dict[str, str]:
    """Dotted module name -> file, for every ``.py`` under :data:`TREES` (a package is its ``__init__.py``)."""
    out = {}
    for tree in TREES:
        for folder, dirs, files in os.walk(os.path.join(root, tree)):
            dirs[:] = sorted(d for d in dirs if d != '__pycache__')
            for name in sorted(files):
                if not name.endswith('.py'):
                    continue
                parts = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                out['.'.join(parts)] = os.path.join(folder, name)
    return out


def layer_of(module: str) -> tuple[int, str]:
    """The (rank, name) of the longest :data:`LAYERS` prefix of ``module``."""
    best = max((p for p in LAYERS if module == p or module.startswith(p + '.')), key=len, default=None)
    if best is None:
        raise AssertionError(f'{module} is in no layer of the table; add its package to LAYERS')
    return LAYERS[best]


def _resolve(module: str, is_package: bool, node: ast.AST, modules: set[str]) -> Iterator[str]:
    """The modules of ours an import statement in ``module`` names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ''
        if node.level:
            package = module.split('.') if is_package else module.split('.')[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = '.'.join(package + ([base] if base else []))
        elif base not in modules and '.' not in base and module.startswith(('tools.', 'benchmarks.')):
            # a script's sibling, imported by its bare name
            sibling = '.'.join(module.split('.')[:-1] + [base])
            base = sibling if sibling in modules else base
        names = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in modules else base for alias in node.names]
    for name in names:
        while name and name not in modules:  # `import mixskd_mm.a.b` where b is a name: its module
            name = name.rpartition('.')[0] if name.startswith(('mixskd_mm.', 'tools.', 'benchmarks.')) else ''
        if name:
            yield name


def import_edges(root: str = ROOT) -> list[Edge]:
    """Every import of one of our modules by another, at any depth of the file (functions, ``if`` blocks...)."""
    files = module_files(root)
    modules = set(files)
    edges = []
    for module, path in sorted(files.items()):
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        is_package = path.endswith('__init__.py')
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(module, is_package, node, modules):
                    if target != module:
                        edges.append((module, target, os.path.relpath(path, root), node.lineno))
    return edges


def upward_imports(edges: list[Edge]) -> list[str]:
    """``file:line`` messages for every import of a higher layer from a lower one."""
    out = []
    for src, dst, path, line in edges:
        (src_rank, src_layer), (dst_rank, dst_layer) = layer_of(src), layer_of(dst)
        if dst_rank > src_rank:
            out.append(f'{path}:{line}: {src} ({src_layer}) imports {dst} ({dst_layer}), a higher layer')
    return sorted(out)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _package(module: str) -> str:
    """The top package of a module for the package-level cycle check: ``mixskd_mm.<x>`` (or ``tools``...)."""
    parts = module.split('.')
    return '.'.join(parts[:2]) if parts[0] == 'mixskd_mm' else parts[0]


def _cycle_report(edges: list[Edge], key) -> list[str]:
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for src, dst, path, line in edges:
        a, b = key(src), key(dst)
        if a != b:
            graph.setdefault(a, set()).add(b)
            where.setdefault((a, b), f'{path}:{line}')
    return [' <-> '.join(c) + ' (' + ', '.join(f'{where[(a, b)]} {a} -> {b}' for a in c for b in c
                                                if (a, b) in where) + ')' for c in cycles(graph)]


def test_no_import_goes_up_a_layer():
    edges = import_edges()
    assert len(edges) > 100, 'the walk found too few imports: is ROOT right?'
    bad = upward_imports(edges)
    assert not bad, 'imports from a lower layer to a higher one (README, Code map):\n' + '\n'.join(bad)


def test_no_import_cycle_between_modules_or_packages():
    edges = import_edges()
    loops = _cycle_report(edges, lambda m: m) + _cycle_report(edges, _package)
    assert not loops, 'import cycles:\n' + '\n'.join(loops)


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path):
    pkg = tmp_path / 'mixskd_mm'
    (pkg / 'weights').mkdir(parents=True)
    (pkg / 'models').mkdir()
    for init in ('__init__.py', 'weights/__init__.py', 'models/__init__.py'):
        (pkg / init).write_text('')
    (pkg / 'models' / 'net.py').write_text('from ..weights import io\n')
    (pkg / 'weights' / 'io.py').write_text('import os\n\n\ndef f():\n    from ..models.net import g\n    return g\n')
    edges = import_edges(str(tmp_path))
    assert upward_imports(edges) == [os.path.join('mixskd_mm', 'weights', 'io.py') + ':5: mixskd_mm.weights.io '
                                     '(weights io) imports mixskd_mm.models.net (models), a higher layer']
    assert _cycle_report(edges, lambda m: m)[0].startswith('mixskd_mm.models.net <-> mixskd_mm.weights.io')
