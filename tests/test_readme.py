"""The README's data dictionary is the store DDL's, word for word."""

from __future__ import annotations

from pathlib import Path

from jobs import dictionary

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_data_dictionary_matches_store_ddl() -> None:
    text = README.read_text()
    start, end = text.index(dictionary.BEGIN), text.index(dictionary.END) + len(dictionary.END)
    assert text[start:end] == dictionary.render(), "run `python -m jobs.dictionary` and paste it into README.md"


def test_readme_shows_the_test_command() -> None:
    assert "make test" in README.read_text()
