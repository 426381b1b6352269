"""The import boundaries between flowmetrics' packages, checked from the source (`make lint`).

Imports point one way: `jobs` -> `etl`, `metrics_api`, `synthetic`; `metrics_api` -> `etl`;
`synthetic` -> `etl`; `etl` imports none of them. No module imports itself back through
others (a cycle), whether at the top of the file or inside a function. Prints one line
per violation and exits 1 when there is any.

Usage: python tools/check_imports.py [ROOT]   (ROOT: the repository, default: this one)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("etl", "metrics_api", "jobs", "synthetic")
FORBIDDEN: dict[str, frozenset[str]] = {
    "etl": frozenset({"jobs", "metrics_api", "synthetic"}),
    "metrics_api": frozenset({"jobs", "synthetic"}),
    "synthetic": frozenset({"jobs", "metrics_api"}),
    "jobs": frozenset(),
}


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the checked packages under root."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module imported, line) for each import in the file that names one of `known`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _resolve(alias.name, node.lineno, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield from _resolve(submodule if submodule in known else base, node.lineno, known)


def _resolve(target: str, line: int, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    # `import a.b.c` names a.b.c (and loads its parents, which are not a dependency of note).
    while target and target not in known:
        target = target.rpartition(".")[0]
    if target:
        yield target, line


def violations(root: Path) -> list[str]:
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    problems = []
    for name, path in known.items():
        top = name.split(".")[0]
        for target, line in imported(name, path, known):
            if target == name:
                continue
            graph[name].add(target)
            if target.split(".")[0] in FORBIDDEN[top]:
                where = path.relative_to(root)
                problems.append(
                    f"{where}:{line}: {name} imports {target}: {top} must not import {target.split('.')[0]}"
                )
    problems += [f"import cycle: {' -> '.join([*cycle, cycle[0]])}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    problems = violations(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} import boundary violation(s); see tools/check_imports.py for the rules")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
