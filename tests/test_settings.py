"""Settings come from the environment once; folders lists are split the way PATH is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from ideogram_mcp.settings import ENV, SECRET_SHORTEST, Settings, redacted
from ideogram_mcp.variables import variables

from .conftest import API_KEY


def test_file_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDEOGRAM_MCP_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("IDEOGRAM_MCP_ALLOWED_DIRS", os.pathsep.join([str(tmp_path / "a"), "", " ~/b "]))
    monkeypatch.setenv("IDEOGRAM_MCP_SAVE", "false")
    monkeypatch.setenv("IDEOGRAM_MCP_PREVIEW", "0")
    settings = Settings()
    assert settings.output_dir == tmp_path / "out"
    assert settings.allowed_dirs == (tmp_path / "a", Path.home() / "b")
    assert (settings.save, settings.preview) == (False, False)


def test_a_folder_named_in_another_encoding_is_refused_at_the_start(tmp_path: Path) -> None:
    # Read from the environment, Latin-1 bytes (caf\xe9) come to Python as half a surrogate pair, which no result can
    # carry: every result naming an image saved there had ended the stdio server (found by review).
    latin = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    for field in ("output_dir", "data_dir", "allowed_dirs"):
        with pytest.raises(ValidationError, match=r"is no text here; name a folder in UTF-8"):
            Settings(**{field: (latin,) if field == "allowed_dirs" else latin})
    assert Settings(output_dir=str(tmp_path / "café")).output_dir == tmp_path / "café"


def test_file_settings_default_to_saving_and_previews_with_no_extra_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEOGRAM_MCP_OUTPUT_DIR", "  ")
    settings = Settings()
    assert (settings.output_dir, settings.allowed_dirs, settings.save, settings.preview) == (None, (), True, True)


def test_generic_variable_names_set_for_other_tools_never_configure_this_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "WEBHOOK_URL": "http://attacker.example/hook",
        "UPLOAD_ENDPOINT": "http://attacker.example/put",
        "OUTPUT_DIR": "/tmp/elsewhere",
        "SAVE": "false",
        "OFFLINE": "true",
        "DAILY_BUDGET": "1000",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.webhook_url, settings.upload_endpoint, settings.output_dir) == (None, None, None)
    assert (settings.save, settings.offline, settings.daily_budget) == (True, False, 10.0)
    monkeypatch.setenv("IDEOGRAM_MCP_WEBHOOK_URL", "https://hooks.example/mine")
    monkeypatch.setenv("RUNWARE_TIMEOUT", "7")
    assert (Settings().webhook_url, Settings().runware_timeout) == ("https://hooks.example/mine", 7.0)


def test_names_match_in_any_case_and_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ideogram_mcp_save", "false")
    monkeypatch.setenv("Runware_Timeout", "12")
    monkeypatch.setenv("IDEOGRAM_MCP_PREVIEW", "false")
    settings = Settings(preview=True)
    assert (settings.save, settings.runware_timeout, settings.preview) == (False, 12.0, True)


def test_a_setting_the_server_does_not_have_is_refused_not_ignored() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(output_folder="/tmp/x")  # pyright: ignore[reportCallIssue]
    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [(("output_folder",), "extra_forbidden")]


def test_a_blank_key_counts_as_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWARE_API_KEY", "  ")
    assert Settings().runware_api_key is None
    monkeypatch.setenv("RUNWARE_API_KEY", API_KEY)
    assert API_KEY not in repr(Settings())
    assert API_KEY not in str(Settings().model_dump())


def test_a_blank_variable_is_as_unset_whatever_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # IDEOGRAM_MCP_MAX_CALLS_PER_MINUTE= (documented "unset means no such limit") and a dozen others had stopped the
    # start, where the key, the budget and the folders took "" as unset: client configs carry "" placeholders.
    for name in ("IDEOGRAM_MCP_MAX_CALLS_PER_MINUTE", "IDEOGRAM_MCP_OFFLINE", "RUNWARE_TIMEOUT", "IDEOGRAM_MCP_SAVE"):
        monkeypatch.setenv(name, " ")
    read = Settings()
    assert (read.max_calls_per_minute, read.offline, read.runware_timeout, read.save) == (None, False, 30.0, True)


def test_spaces_or_a_line_break_around_a_folder_are_not_part_of_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # " /srv/images\n" copied into a config had become a folder of that name inside the one the server started in,
    # and a journal folder with a space after it another journal: the day's spend and pending tasks elsewhere.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IDEOGRAM_MCP_OUTPUT_DIR", f" {tmp_path}/wanted\n")
    monkeypatch.setenv("IDEOGRAM_MCP_DATA_DIR", f"{tmp_path}/data ")
    monkeypatch.setenv("IDEOGRAM_MCP_TOKENS_FILE", f"\t{tmp_path}/tokens")
    read = Settings()
    assert (read.output_dir, read.data_dir, read.tokens_file) == (
        tmp_path / "wanted",
        tmp_path / "data",
        tmp_path / "tokens",
    )


def test_tokens_that_are_only_commas_are_refused_not_taken_for_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # "," had served with no authentication, as an unset variable does.
    monkeypatch.setenv("IDEOGRAM_MCP_TOKENS", " , ,")
    with pytest.raises(ValidationError, match="holds no token, only commas"):
        Settings()


def test_a_limit_too_large_to_count_is_refused_at_the_start() -> None:
    # 2**63 had been taken, and every paid call then failed in the journal (an internal error).
    for field in ("max_calls_per_minute", "max_in_flight"):
        with pytest.raises(ValidationError, match="less than or equal to 1000000"):
            Settings(**{field: 2**63})


def test_reading_the_configuration_loads_no_http_client() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, ideogram_mcp.settings; print(sorted(m for m in sys.modules if 'http' in m))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_a_folder_whose_links_lead_round_is_a_configuration_error(tmp_path: Path) -> None:
    # It had made every generate_image, dry runs too, an internal error.
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(ValidationError, match="cannot be followed: a symbolic link in it leads round"):
        Settings(output_dir=tmp_path / "loop" / "images")


def test_a_folder_in_the_home_of_no_such_user_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="starts with the home folder of a user this machine has not"):
        Settings(output_dir=Path("~nosuchuser4711/images"))
    assert Settings(data_dir=Path("~/data")).data_dir == Path.home() / "data"


def test_code_names_a_variable_only_through_its_setting() -> None:
    assert (ENV.daily_budget, ENV.runware_api_key) == ("IDEOGRAM_MCP_DAILY_BUDGET", "RUNWARE_API_KEY")
    listed = [getattr(ENV, field) for field, info in Settings.model_fields.items() if not info.exclude]
    assert listed == [v.name for v in variables()]
    with pytest.raises(AttributeError, match="no setting 'daily_budgets'"):
        _ = ENV.daily_budgets


def test_a_database_url_is_a_secret_and_one_that_is_not_postgresqls_is_refused_without_repeating_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "postgresql://team:s3cret-pass-word@db.example.test:5432/ideogram"
    monkeypatch.setenv("IDEOGRAM_MCP_DATABASE_URL", f" {url} ")
    read = Settings()
    assert read.database_url is not None
    assert read.database_url.get_secret_value() == url
    assert "s3cret" not in repr(read) + str(read.model_dump())
    assert Settings(database_url="  ").database_url is None
    with pytest.raises(ValidationError, match="not a PostgreSQL URL; write it as postgresql://") as refused:
        Settings(database_url="mysql://team:s3cret-pass-word@db/ideogram")
    assert "s3cret" not in str(refused.value)


def test_a_key_of_the_shortest_blanked_length_is_blanked_everywhere() -> None:
    key = "k" * SECRET_SHORTEST  # the shortest value blanked: shorter ones are ordinary words
    said = {"error": f"Bearer {key} refused", "tries": [key]}
    assert redacted(said, SecretStr(key)) == {"error": "Bearer [redacted] refused", "tries": ["[redacted]"]}


def test_a_relative_folder_in_a_working_folder_deleted_since_is_refused_in_a_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # it had been a traceback (FileNotFoundError from os.getcwd), found by a review
    with pytest.raises(ValidationError, match="'images' is relative to the folder the server was started in, which is "
                       "gone; give a whole path"):  # fmt: skip
        Settings(output_dir=Path("images"))
    assert Settings(output_dir=tmp_path / "images").output_dir == tmp_path / "images"
