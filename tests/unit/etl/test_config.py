"""Tests of etl.config: Config.from_env's defaults, the .env file under the environment, and
one ConfigError naming the variable (and the fix) for every value it refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etl.config import DEFAULT_STORAGE_VERSION, STORAGE_VERSIONS, Config
from etl.errors import ConfigError

NO_DOTENV = Path("/nonexistent/.env")


def config(**env: str) -> Config:
    return Config.from_env(env, dotenv=NO_DOTENV)


def test_nothing_set_gives_the_dataclass_defaults() -> None:
    # from_env states each default again (to parse over it): the two must agree.
    assert config() == Config()


def test_an_empty_value_is_the_default() -> None:
    assert config(METRICS_DB="", METRICS_HOURLY_CRON="", METRICS_REFRESH_RETRIES="") == Config()


def test_every_setting_is_read() -> None:
    read = config(
        DATABASE_URL="postgresql://app@db:5432/app",
        METRICS_DB="/srv/metrics/store.duckdb",
        METRICS_JWT_SECRET="s3cret",
        METRICS_JWT_ALGORITHMS=" HS256, HS512 ,",
        METRICS_JWT_USER_CLAIM="uid",
        METRICS_JWT_AUDIENCE="dashboards",
        METRICS_JWT_ISSUER="app",
        METRICS_HOURLY_CRON="*/15 * * * *",
        METRICS_NIGHTLY_CRON="0 3 * * 1-5",
        METRICS_INCREMENTAL_SECONDS="0",
        METRICS_API_PREFIX="/api/v1/",
        METRICS_CORS_ORIGINS="https://a.example, https://b.example,",
        METRICS_JSON_LOGS="true",
        METRICS_REFRESH_RETRIES="0",
        METRICS_RETRY_BACKOFF_SECONDS="0.5",
        METRICS_MISFIRE_GRACE_SECONDS="60",
        METRICS_STORAGE_VERSION="1.4.0",
    )
    assert read == Config(
        database_url="postgresql://app@db:5432/app",
        metrics_db=Path("/srv/metrics/store.duckdb"),
        jwt_secret="s3cret",
        jwt_algorithms=("HS256", "HS512"),
        jwt_user_claim="uid",
        jwt_audience="dashboards",
        jwt_issuer="app",
        hourly_cron="*/15 * * * *",
        nightly_cron="0 3 * * 1-5",
        incremental_seconds=0,
        api_prefix="/api/v1",
        cors_origins=("https://a.example", "https://b.example"),
        json_logs=True,
        refresh_retries=0,
        retry_backoff_seconds=0.5,
        misfire_grace_seconds=60,
        storage_version="v1.4.0",
    )
    assert read.lock_path == Path("/srv/metrics/store.duckdb.lock")
    assert read.data_dir == Path("/srv/metrics")


def test_the_secret_is_never_in_the_repr() -> None:
    assert "s3cret" not in repr(config(METRICS_JWT_SECRET="s3cret"))


@pytest.mark.parametrize("url", ["postgres://h/db", "postgresql://h/db", "postgresql+psycopg://h/db"])
def test_a_postgresql_url_is_accepted(url: str) -> None:
    assert config(DATABASE_URL=url).database_url == url


# --- Refused values: the message starts with the variable and says what to set instead.


REFUSED = [
    # (variable, value, what the message says after the variable's name)
    ("DATABASE_URL", "mysql://app:hunter2@db/app", r"=.* is not a PostgreSQL URL; use postgresql://"),
    ("DATABASE_URL", "db:5432/app", r"=.* is not a PostgreSQL URL"),
    ("METRICS_API_PREFIX", "api/v1", r"='api/v1' must start with '/'"),
    ("METRICS_JWT_ALGORITHMS", "none", r" must not include 'none'; use e\.g\. HS256"),
    ("METRICS_JWT_ALGORITHMS", "HS256, None", r" must not include 'none'"),
    ("METRICS_HOURLY_CRON", "61 * * * *", r"='61 \* \* \* \*' is not a valid cron expression \(.*\(61\)"),
    ("METRICS_HOURLY_CRON", "5 * * *", r"=.* is not a valid cron expression .*use e\.g\. '5 \* \* \* \*'"),
    ("METRICS_NIGHTLY_CRON", "every night", r"='every night' is not a valid cron expression"),
    ("METRICS_NIGHTLY_CRON", "0 24 * * *", r"=.* is not a valid cron expression \(.*\(24\)"),
    ("METRICS_NIGHTLY_CRON", "0 2 * * * *", r"=.* is not a valid cron expression"),
    ("METRICS_INCREMENTAL_SECONDS", "-1", r"='-1' must not be negative; set e\.g\. METRICS_INCREMENTAL_SECONDS=60"),
    ("METRICS_INCREMENTAL_SECONDS", "1.5", r"='1\.5' is not a whole number"),
    ("METRICS_REFRESH_RETRIES", "-3", r"='-3' must not be negative; set e\.g\. METRICS_REFRESH_RETRIES=3"),
    ("METRICS_REFRESH_RETRIES", "three", r"='three' is not a whole number"),
    ("METRICS_MISFIRE_GRACE_SECONDS", "-60", r"='-60' must not be negative"),
    ("METRICS_RETRY_BACKOFF_SECONDS", "soon", r"='soon' is not a number; set e\.g\. METRICS_RETRY_BACKOFF_SECONDS=5"),
    ("METRICS_STORAGE_VERSION", "v9.9.9", r"='v9\.9\.9' is not a storage format DuckDB writes"),
]


@pytest.mark.parametrize(("variable", "value", "says"), REFUSED, ids=[f"{v}={x}" for v, x, _ in REFUSED])
def test_a_refused_value_is_a_config_error_naming_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}{says}"):
        config(**{variable: value})


def test_a_refused_database_url_keeps_its_password_out_of_the_message() -> None:
    with pytest.raises(ConfigError) as refused:
        config(DATABASE_URL="mysql://app:hunter2@db/app")
    assert "hunter2" not in str(refused.value)


# --- METRICS_STORAGE_VERSION: which DuckDB clients can open the store.


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, "v1.0.0"), ("v1.4.0", "v1.4.0"), ("1.2.0", "v1.2.0"), ("v2.0.0", "v2.0.0")],
    ids=["default", "lts", "without-v", "newest"],
)
def test_metrics_storage_version(raw: str | None, expected: str) -> None:
    env = {} if raw is None else {"METRICS_STORAGE_VERSION": raw}
    assert config(**env).storage_version == expected
    assert STORAGE_VERSIONS[0] == DEFAULT_STORAGE_VERSION


@pytest.mark.parametrize("raw", ["v0.9.0", "latest", "1.4", "v3.0.0"])
def test_a_bad_storage_version_names_the_variable_and_the_fix(raw: str) -> None:
    with pytest.raises(ConfigError, match=rf"^METRICS_STORAGE_VERSION='{raw}' is not .*use one of v1\.0\.0, "):
        config(METRICS_STORAGE_VERSION=raw)


# --- The .env file: python-dotenv's syntax, under the environment.

DOTENV = """\
# settings for this host
export METRICS_DB=/from/dotenv/metrics.duckdb
METRICS_JWT_SECRET="a secret # with a hash"
METRICS_API_PREFIX='/api'
METRICS_REFRESH_RETRIES=1  # fewer retries here
METRICS_JWT_ISSUER
"""


def test_the_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(DOTENV)
    read = Config.from_env({"METRICS_API_PREFIX": "/from-env"}, dotenv=dotenv)
    assert read.metrics_db == Path("/from/dotenv/metrics.duckdb")
    assert read.jwt_secret == "a secret # with a hash"
    assert read.refresh_retries == 1
    assert read.api_prefix == "/from-env"
    assert read.jwt_issuer is None  # a name without a value sets nothing


def test_the_default_dotenv_is_the_working_folders_and_the_default_environ_is_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("METRICS_DB=/from/dotenv.duckdb\nMETRICS_JWT_AUDIENCE=dotenv\n")
    for name in [n for n in os.environ if n.startswith("METRICS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("METRICS_JWT_AUDIENCE", "process")
    read = Config.from_env()
    assert read.metrics_db == Path("/from/dotenv.duckdb")
    assert read.jwt_audience == "process"


def test_a_bad_value_in_the_dotenv_file_is_refused_like_one_in_the_environment(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("METRICS_INCREMENTAL_SECONDS=-5\n")
    with pytest.raises(ConfigError, match="^METRICS_INCREMENTAL_SECONDS='-5' must not be negative"):
        Config.from_env({}, dotenv=dotenv)
    # The environment's valid value overrides the file's bad one.
    assert Config.from_env({"METRICS_INCREMENTAL_SECONDS": "30"}, dotenv=dotenv).incremental_seconds == 30


def test_a_missing_dotenv_file_is_no_error(tmp_path: Path) -> None:
    assert Config.from_env({}, dotenv=tmp_path / "absent.env") == Config()
    assert Config.from_env({}, dotenv=tmp_path) == Config()  # a folder is not a .env file
