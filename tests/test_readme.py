"""The README and docs/ against the code: the CLI as `--help` has it, the data dictionary as
the store DDL has it, the configuration as etl.config reads it, links that resolve, and every
piece of SQL a page shows executed (DuckDB's on a store of the DDL, PostgreSQL's on a seeded
source; the cookbook's also against the app's live SQL, in tests/integration/test_cookbook.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from etl import contract, database, statements
from jobs import dictionary
from jobs.cli import main
from synthetic.seed import seed

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DICTIONARY = DOCS / "data-dictionary.md"
EXACTNESS = DOCS / "exactness.md"
BENCH = ROOT / "bench" / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md")), BENCH]
"""Every page of documentation the tests here keep honest."""

MAX_README_LINES = 250


def test_the_readme_is_read_in_five_minutes() -> None:
    assert len(README.read_text().splitlines()) <= MAX_README_LINES, "move detail into docs/"


def test_readme_shows_the_test_command() -> None:
    assert "make test" in README.read_text()


# --- Links between the pages: every relative link names a file, every #anchor a heading.

LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_link_between_the_pages_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_readme_links_every_doc() -> None:
    text = README.read_text()
    assert [p.name for p in PAGES[1:] if str(p.relative_to(ROOT)) not in text] == []


# --- The data dictionary: the store DDL's, word for word, and who each table could identify.


def test_the_data_dictionary_matches_the_store_ddl() -> None:
    text = DICTIONARY.read_text()
    start, end = text.index(dictionary.BEGIN), text.index(dictionary.END) + len(dictionary.END)
    expected = dictionary.render()
    assert text[start:end] == expected, "run `python -m jobs.dictionary` and paste it into docs/data-dictionary.md"


def test_every_store_table_says_which_columns_could_identify_a_person() -> None:
    tables = dictionary.schema()
    assert sorted(dictionary.PERSONAL) == sorted(tables), "give each table of etl/sql/store.sql its PERSONAL entry"
    unknown = [
        f"{table}.{personal.column}"
        for table, columns in dictionary.PERSONAL.items()
        for personal in columns
        if personal.column not in {c.name for c in tables[table][1]}
    ]
    assert unknown == [], "PERSONAL names columns the DDL does not have"
    assert "email" not in {c.name for _, columns in tables.values() for c in columns}


# --- The configuration table: every variable etl.config reads.


def test_the_configuration_table_lists_every_variable() -> None:
    read = set(re.findall(r'"((?:METRICS|DATABASE)_[A-Z_]+)"', (ROOT / "etl" / "config.py").read_text()))
    table = README.read_text().split("## Configuration")[1].split("\n## ")[0]
    assert sorted(v for v in read if f"`{v}`" not in table) == []
    assert "| `METRICS_INCREMENTAL_SECONDS` | `60` |" in table


# --- The source contract: the tables and columns etl.contract checks, as operations.md lists them.


def test_the_source_contract_table_is_etl_contracts() -> None:
    text = (DOCS / "operations.md").read_text().split("### Source contract")[1].split("\n## ")[0]
    rows = re.findall(r"^\| `(\w+)`[^|]*\| (.+) \|$", text, flags=re.M)
    listed = {table: tuple(re.findall(r"`(\w+)`", columns)) for table, columns in rows}
    assert listed == {**contract.REQUIRED, **contract.OPTIONAL}
    assert all(f"`{table}` (optional)" in text for table in contract.OPTIONAL)


# --- The CLI as the pages document it, against `flowmetrics --help` and each command's --help.

FLAG = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")
SPAN = re.compile(r"`([^`\n]+)`")
OTHER_TOOLS = {"--storage-version"}  # bench.run's, next to `make bench` in the data dictionary
"""Flags the pages show bare (no command before them) that are not flowmetrics'."""
CLI_PAGES = [README, *sorted(DOCS.glob("*.md"))]
"""Pages whose commands and flags must be flowmetrics' (bench/README.md is bench.run's)."""


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def documented(text: str) -> tuple[dict[str | None, set[str]], set[str], set[tuple[str, str, str]]]:
    """(flags per command, None: the global ones; bare flags; (command, flag, choice) shown as a|b|c)."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    code = [line.split("  #")[0] for block in fenced for line in block.splitlines()]
    code += SPAN.findall(re.sub(r"```.*?```", "", text, flags=re.S))
    flags: dict[str | None, set[str]] = {}
    bare: set[str] = set()
    choices: set[tuple[str, str, str]] = set()
    for snippet in code:
        words = snippet.replace("[", " ").replace("]", " ").split()
        if not words:
            continue
        if words[0] == "flowmetrics":
            words = words[1:]
        elif words[0] not in COMMANDS:
            if FLAG.fullmatch(words[0]):
                bare.add(words[0])
            continue
        command: str | None = None
        for i, word in enumerate(words):
            if command is None and re.fullmatch(r"[a-z]+", word):
                command = word
                flags.setdefault(command, set())
            elif FLAG.fullmatch(word):
                flags.setdefault(command, set()).add(word)
                following = words[i + 1] if i + 1 < len(words) else ""
                if "|" in following:
                    choices.update((command or "", word, c) for c in following.split("|"))
    return flags, bare, choices


COMMANDS = ("refresh", "schedule", "serve", "seed", "status", "sql", "export", "demo")


@pytest.mark.parametrize("page", CLI_PAGES, ids=[str(p.relative_to(ROOT)) for p in CLI_PAGES])
def test_every_documented_command_and_flag_exists(page: Path, capsys: pytest.CaptureFixture[str]) -> None:
    top = help_text([], capsys)
    listed = set(re.search(r"\{([a-z,]+)\}", top)[1].split(","))  # type: ignore[index]
    assert listed == set(COMMANDS), "update COMMANDS here and the README's CLI block"
    flags, bare, choices = documented(page.read_text())
    if page == README:
        assert set(flags) - {None} == listed, "the README documents exactly the commands there are"
    assert set(flags) - {None} <= listed
    helps = {command: help_text([command], capsys) for command in listed}
    known = {command: set(FLAG.findall(text)) for command, text in helps.items()}
    missing = [
        f"flowmetrics {command or ''} {flag}".replace("  ", " ")
        for command, documented_flags in flags.items()
        for flag in sorted(documented_flags)
        if flag not in (known[command] if command else set(FLAG.findall(top)))
    ]
    assert missing == [], f"{page.name} documents flags the CLI does not have"
    every_flag = set(FLAG.findall(top)).union(*known.values())
    assert sorted(bare - every_flag - OTHER_TOOLS) == []
    wrong = [(c, f, v) for c, f, v in sorted(choices) if v not in helps.get(c, top)]
    assert wrong == [], "choices the page shows that the command's --help does not list"


def cli_block() -> dict[str, str]:
    """The README's CLI block: each command's synopsis line, comment dropped."""
    text = README.read_text()
    block = text[text.index("## CLI") :].split("```")[1]
    lines = {}
    for line in block.splitlines():
        words = line.split("  #")[0].split()
        if len(words) > 1 and words[0] == "flowmetrics" and words[1] in COMMANDS:
            lines[words[1]] = " ".join(words[2:])
    return lines


def unbracketed(synopsis: str) -> set[str]:
    """The flags of a synopsis that are not inside [...]: those it shows as required."""
    depth, outside = 0, []
    for char in synopsis:
        depth += char == "["
        outside.append(char if depth == 0 else " ")
        depth -= char == "]"
    return set(FLAG.findall("".join(outside)))


def test_the_cli_block_shows_every_flag_and_which_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    synopses = cli_block()
    assert sorted(synopses) == sorted(COMMANDS)
    for command, synopsis in synopses.items():
        text = help_text([command], capsys)
        usage = " ".join(text.split("\n\n")[0].split())
        flags = set(FLAG.findall(usage)) - {"-h"}
        assert set(FLAG.findall(synopsis)) == flags, f"the README's `flowmetrics {command}` line and its --help"
        assert unbracketed(synopsis) == unbracketed(usage), f"`flowmetrics {command}`: required flags differ"


# --- Development: what make test runs, where tests go, and the size of the full runs.


def test_the_development_section_lists_what_make_test_runs() -> None:
    development = README.read_text().split("## Development")[1]
    line = next(line for line in development.splitlines() if line.startswith("make test "))
    tests = ROOT / "tests"
    folders = sorted(p.name for p in tests.iterdir() if (p / "__init__.py").exists() and any(p.glob("test_*.py")))
    assert [f for f in folders if f not in line] == [], line
    assert all(p.name in line for p in tests.glob("test_*.py")), line
    assert [f for f in folders if f"`tests/{f}/`" not in development] == [], "say where a new test of each kind goes"


@pytest.mark.parametrize("page", [README, EXACTNESS], ids=["README.md", "docs/exactness.md"])
def test_the_pages_give_the_size_of_the_full_differential_run(page: Path) -> None:
    source = (ROOT / "tests" / "integration" / "test_differential.py").read_text()
    full = source[source.index("@pytest.mark.full") :]
    sessions = int(re.search(r"sessions=([\d_]+)", full)[1].replace("_", ""))  # type: ignore[index]
    text = page.read_text()
    assert f"{sessions // 1000}k-session" in text
    assert not re.search(rf"\b(?!{sessions // 1000}k)\d+k-session", text)


# --- SQL: every statement a page shows is run here, so none can go stale.

FENCE = re.compile(r"(<!-- postgresql -->\s*)?```([a-z]*)\n(.*?)```", re.S)
QUOTED_QUERY = re.compile(r'"((?:SELECT|WITH)\b[^"]*)"')
"""A query given to a shell command (`duckdb … "SELECT …"`, `flowmetrics sql "SELECT …"`)."""
STATEMENT = re.compile(
    r"\b(?:SELECT|WITH)\b[^`]*?\bFROM\b"
    r"|\b(?:SET VARIABLE|CLUSTER|INSERT INTO|DELETE FROM|CREATE TABLE|ALTER TABLE)\s+\w+"
)
"""What counts as SQL a reader could run (a command's bare name, like `CLUSTER`, does not)."""


def page_sql(page: Path) -> tuple[list[str], list[str], str]:
    """(DuckDB statements, PostgreSQL statements, the page's text without them)."""
    duck: list[str] = []
    postgres: list[str] = []

    def take(match: re.Match[str]) -> str:
        pg, language, body = match.group(1), match.group(2), match.group(3)
        if language == "sql":
            (postgres if pg else duck).append(body.strip())
            return ""
        duck.extend(q.strip() for q in QUOTED_QUERY.findall(body))
        return QUOTED_QUERY.sub('""', body)

    rest = FENCE.sub(take, page.read_text())
    for query in QUOTED_QUERY.findall(rest):
        duck.append(query.strip())
    return duck, postgres, QUOTED_QUERY.sub('""', rest)


def test_no_page_shows_sql_that_no_test_runs() -> None:
    stray = [f"{p.relative_to(ROOT)}: {m.group(0)[:60]!r}" for p in PAGES for m in STATEMENT.finditer(page_sql(p)[2])]
    assert stray == [], "put it in a ```sql block (run below) or leave it out"


def test_every_duckdb_statement_of_the_pages_runs_on_a_store_of_the_ddl() -> None:
    con = duckdb.connect()
    con.execute(statements.read("store.sql"))
    queries = [q for page in PAGES for q in page_sql(page)[0]]
    assert len(queries) > 10
    # The variables first (the cookbook's parameter block), then every query with them set.
    for query in sorted(queries, key=lambda q: not q.startswith("SET VARIABLE")):
        try:
            con.execute(query).fetchall()
        except duckdb.Error as exc:
            pytest.fail(f"{exc}\n{query}")


def test_every_postgresql_statement_of_the_pages_runs_on_a_seeded_source(fresh_db: str) -> None:
    seed(fresh_db, sessions=300, accounts=2, days=30, seed=5)
    queries = [q for page in PAGES for q in page_sql(page)[1]]
    assert queries, "the pages' PostgreSQL blocks (<!-- postgresql --> before ```sql)"
    with database.connect(fresh_db) as conn:
        conn.execute("ANALYZE sessions")
        for query in queries:
            conn.execute(query)
        [(correlation,)] = conn.execute(next(q for q in queries if "pg_stats" in q)).fetchall()
        assert correlation is not None and float(str(correlation)) > 0.9  # seed lays sessions in started_at order
