"""The README's data dictionary is the store DDL's, word for word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs import dictionary
from jobs.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_data_dictionary_matches_store_ddl() -> None:
    text = README.read_text()
    start, end = text.index(dictionary.BEGIN), text.index(dictionary.END) + len(dictionary.END)
    assert text[start:end] == dictionary.render(), "run `python -m jobs.dictionary` and paste it into README.md"


def test_readme_shows_the_test_command() -> None:
    assert "make test" in README.read_text()


# --- The CLI as the README documents it, against `flowmetrics --help` and each command's --help.

FLAG = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")
SPAN = re.compile(r"`([^`\n]+)`")
OTHER_TOOLS = {"--storage-version"}  # bench.run's, next to `make bench` in the README
"""Flags the README shows bare (no command before them) that are not flowmetrics'."""


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def documented() -> tuple[dict[str | None, set[str]], set[str], set[tuple[str, str, str]]]:
    """(flags per command, None: the global ones; bare flags; (command, flag, choice) shown as a|b|c)."""
    text = README.read_text()
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


def test_every_documented_command_and_flag_exists(capsys: pytest.CaptureFixture[str]) -> None:
    top = help_text([], capsys)
    listed = set(re.search(r"\{([a-z,]+)\}", top)[1].split(","))  # type: ignore[index]
    assert listed == set(COMMANDS), "update COMMANDS here and the README's CLI block"
    flags, bare, choices = documented()
    assert set(flags) - {None} == listed, "the README documents exactly the commands there are"
    helps = {command: help_text([command], capsys) for command in listed}
    known = {command: set(FLAG.findall(text)) for command, text in helps.items()}
    missing = [
        f"flowmetrics {command or ''} {flag}".replace("  ", " ")
        for command, documented_flags in flags.items()
        for flag in sorted(documented_flags)
        if flag not in (known[command] if command else set(FLAG.findall(top)))
    ]
    assert missing == [], "the README documents flags the CLI does not have"
    every_flag = set(FLAG.findall(top)).union(*known.values())
    assert sorted(bare - every_flag - OTHER_TOOLS) == []
    wrong = [(c, f, v) for c, f, v in sorted(choices) if v not in helps.get(c, top)]
    assert wrong == [], "choices the README shows that the command's --help does not list"


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


def test_the_development_section_lists_what_make_test_runs() -> None:
    development = README.read_text().split("## Development")[1]
    line = next(line for line in development.splitlines() if line.startswith("make test "))
    tests = README.parent / "tests"
    folders = sorted(p.name for p in tests.iterdir() if (p / "__init__.py").exists() and any(p.glob("test_*.py")))
    assert [f for f in folders if f not in line] == [], line
    assert all(p.name in line for p in tests.glob("test_*.py")), line


def test_the_readme_gives_the_size_of_the_full_differential_run() -> None:
    source = (README.parent / "tests" / "integration" / "test_differential.py").read_text()
    full = source[source.index("@pytest.mark.full") :]
    sessions = int(re.search(r"sessions=([\d_]+)", full)[1].replace("_", ""))  # type: ignore[index]
    text = README.read_text()
    assert f"{sessions // 1000}k-session" in text
    assert not re.search(rf"\b(?!{sessions // 1000}k)\d+k-session differential", text)
