"""The import-boundary rule of `make lint` (tools/check_imports.py): it passes on this tree and
fails on each kind of bad import."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_imports", ROOT / "tools" / "check_imports.py")
assert _spec is not None and _spec.loader is not None
check_imports = importlib.util.module_from_spec(_spec)
sys.modules["check_imports"] = check_imports
_spec.loader.exec_module(check_imports)


def tree(root: Path, files: dict[str, str]) -> Path:
    for package in check_imports.PACKAGES:
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_this_repository_keeps_its_boundaries() -> None:
    assert check_imports.violations(ROOT) == []


def test_allowed_imports_pass(tmp_path: Path) -> None:
    files = {
        "etl/store.py": "import duckdb\n",
        "metrics_api/app.py": "from etl import store\n",
        "synthetic/seed.py": "from etl.store import x\n",
        "jobs/cli.py": "import metrics_api.app\nfrom synthetic import seed\nfrom . import refresh\n",
        "jobs/refresh.py": "from etl import store\n",
    }
    assert check_imports.violations(tree(tmp_path, files)) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"etl/store.py": "from jobs import cli\n", "jobs/cli.py": ""}, "etl must not import jobs"),
        ({"etl/store.py": "def f():\n    import metrics_api.app\n", "metrics_api/app.py": ""}, "etl must not import"),
        ({"etl/seed_use.py": "from synthetic.seed import seed\n", "synthetic/seed.py": ""}, "etl must not import"),
        ({"metrics_api/app.py": "from jobs.refresh import x\n", "jobs/refresh.py": ""}, "metrics_api must not"),
        (
            {"jobs/cli.py": "from jobs import demo\n", "jobs/demo.py": "def f():\n    from .cli import main\n"},
            "import cycle: jobs.cli -> jobs.demo -> jobs.cli",
        ),
    ],
    ids=["etl-jobs", "etl-api-in-function", "etl-synthetic", "api-jobs", "cycle"],
)
def test_bad_imports_fail(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    problems = check_imports.violations(tree(tmp_path, files))
    assert any(expected in problem for problem in problems), problems
    assert check_imports.main(["check_imports", str(tmp_path)]) == 1
