from pathlib import Path

import pytest

from cluster.migrate import MIGRATIONS_DIR, migrations, split_statements


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [v for v, _ in migrations(MIGRATIONS_DIR)]
    assert versions == list(range(1, len(versions) + 1))


def test_split_skips_comments_and_blank_statements() -> None:
    sql = "-- a comment; with a semicolon\nCREATE TABLE a (x INT);\n\nCREATE TABLE b (y INT);\n"
    assert split_statements(sql) == ["CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"]


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="share a version"):
        migrations(tmp_path)
