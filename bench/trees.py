"""The trees a benchmark run measures: this checkout ("new") and an older commit ("old").

The old tree is `git archive <sha>` extracted to bench/data/old-<short sha> (reused when
present). It runs with this tree's Python when its pyproject.toml asks for the same
dependencies, otherwise with a .venv of its own beside it. Either way its children run with
cwd = the old tree: `python -m` and `-c` put the cwd first on sys.path, ahead of this tree's
editable install (a finder appended to sys.meta_path, asked only for what sys.path lacks),
so its packages are imported; `check_imports` makes sure of that before anything is measured.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import DATA, ROOT, child_env, log

PACKAGES = ("etl", "jobs", "metrics_api", "synthetic")

# Run with a tree's python, cwd = the tree: where the import system finds each module of the
# packages named (every .py file below them), as JSON. find_spec imports the parent packages only.
IMPORTS_SCRIPT = (
    "import importlib.util, json, pathlib, sys\n"
    "found = {}\n"
    "for top in sys.argv[1:]:\n"
    "    for path in sorted(pathlib.Path(top).rglob('*.py')):\n"
    "        parts = path.with_suffix('').parts\n"
    "        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)\n"
    "        spec = importlib.util.find_spec(name)\n"
    "        found[name] = spec.origin if spec else None\n"
    "print(json.dumps(found))\n"
)

# Run the same way: that tree's floor queries, as JSON.
QUERIES_SCRIPT = (
    "import json, sys\n"
    "try:\n"
    "    from bench.floors import extraction_queries\n"
    "except ImportError:  # a checkout from before bench.floors\n"
    "    from bench.run import extraction_queries\n"
    "print(json.dumps([q for stream in extraction_queries(sys.argv[1], sys.argv[2]) for q in stream]))\n"
)


@dataclass(frozen=True)
class Tree:
    name: str  # "old" or "new"
    root: Path
    python: Path
    commit: str  # short sha; "+" marks uncommitted changes in this checkout
    subject: str  # the commit's first line


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def this_tree() -> Tree:
    dirty = "+" if git("status", "--porcelain", "--untracked-files=no") else ""
    commit = git("rev-parse", "--short", "HEAD") + dirty
    return Tree("new", ROOT, Path(sys.executable), commit, git("log", "-1", "--format=%s"))


def old_tree(rev: str) -> Tree:
    """The commit `rev` names (in this checkout's repository), extracted and ready to run."""
    return commit_tree(rev, "old")


def commit_tree(rev: str, name: str) -> Tree:
    """The commit `rev`, extracted to bench/data/<name>-<short sha> and ready to run as `name`.

    As "new" (`--new REV`): a run that must not see the edits others make in this checkout
    while it runs measures a commit instead of the checkout.
    """
    sha = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    short = git("rev-parse", "--short", sha)
    root = DATA / f"{name}-{short}"
    if not root.exists():
        extract(sha, root)
    tree = Tree(name, root, python_for(root), short, git("log", "-1", "--format=%s", sha))
    check_imports(tree)
    return tree


def extract(sha: str, root: Path) -> None:
    """`git archive <sha> | tar -x` into root, through a temporary folder: a stopped one is not reused."""
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log(f"extracting {sha[:12]} to {root}")
    archive = subprocess.Popen(["git", "archive", sha], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(partial)], stdin=archive.stdout, check=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit(f"git archive {sha} failed")
    partial.rename(root)


def dependencies(root: Path) -> dict[str, Any]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return {"dependencies": project.get("dependencies", []), "optional": project.get("optional-dependencies", {})}


def python_for(root: Path) -> Path:
    """This tree's python when the old tree's dependency lists are the same, else its own venv's."""
    if dependencies(root) == dependencies(ROOT):
        return Path(sys.executable)
    venv = root / ".venv"
    stamp = venv / ".installed"
    if not stamp.exists():
        log(f"{root.name} asks for other dependencies: installing it into {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "-e", str(root)], check=True, cwd=root)
        stamp.touch()
    return venv / "bin" / "python"


def run_in(tree: Tree, script: str, *args: str) -> str:
    """Output of `python -c script args` run the way the tree's refresh runs (its python, its cwd)."""
    return subprocess.run(
        [str(tree.python), "-c", script, *args],
        cwd=tree.root,
        check=True,
        capture_output=True,
        text=True,
        env=child_env(),
    ).stdout


def check_imports(tree: Tree) -> None:
    """Stop unless every module of flowmetrics' packages in `tree` would be imported from `tree` itself.

    (A package the tree lacks, say one added since, is left out: its code cannot import it.)
    """
    have = [name for name in PACKAGES if (tree.root / name / "__init__.py").exists()]
    files: dict[str, str | None] = json.loads(run_in(tree, IMPORTS_SCRIPT, *have))
    strays = {name: file for name, file in files.items() if not file or not Path(file).is_relative_to(tree.root)}
    if strays:
        raise SystemExit(f"the {tree.name} tree {tree.root} would import modules from elsewhere: {strays}")
    log(f"{tree.name} tree {tree.commit}: its {len(files)} modules of {', '.join(have)} import from {tree.root}")


# What each mode of the benchmark runs in a tree, as `flowmetrics refresh` arguments. "nightly"
# is always a rebuild of all history from the source: an old tree's plain nightly did that,
# a tree with `--full` (commit 0bb2c18 on) needs the flag, since its plain nightly starts
# from the published store. "incremental" exists from 0bb2c18 on only; an older tree's
# incremental is compared with its hourly instead (bench.incremental).
BENCH_MODES = ("nightly", "hourly", "incremental")


def refresh_args(tree: Tree, mode: str) -> list[str]:
    """`--mode ...` of the refresh the benchmark calls `mode` in `tree` (see BENCH_MODES)."""
    if mode not in BENCH_MODES:
        raise SystemExit(f"no benchmark mode {mode!r}: one of {', '.join(BENCH_MODES)}")
    if mode == "nightly":
        if cli_has(tree, '"--full"'):
            return ["--mode", "nightly", "--full"]
        if "full: bool" in (tree.root / "jobs" / "refresh.py").read_text():
            raise SystemExit(
                f"the {tree.name} tree ({tree.commit}) rebuilds all history only through run_refresh(full=True), "
                "which its command line cannot ask for: measure against a commit before 0bb2c18 or one whose "
                "`refresh` takes --full"
            )
        return ["--mode", "nightly"]
    if mode == "incremental" and not cli_has(tree, '"incremental"'):
        raise SystemExit(f"the {tree.name} tree ({tree.commit}) has no incremental refresh")
    return ["--mode", mode]


def cli_has(tree: Tree, text: str) -> bool:
    """Whether the tree's command line (jobs/cli.py) says `text`: an option or mode it knows."""
    return text in (tree.root / "jobs" / "cli.py").read_text()


def tree_queries(tree: Tree, url: str, mode: str) -> list[str]:
    """The queries a refresh of `mode` in `tree` runs, as that tree's own benchmark defines them."""
    queries: list[str] = json.loads(run_in(tree, QUERIES_SCRIPT, url, mode))
    return queries
