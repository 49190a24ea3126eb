"""Settings come from SUPPORTBOT_* variables, derive their paths, and reject bad values clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_environment_overrides_and_derived_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SUPPORTBOT_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("SUPPORTBOT_PORT", "9123")
    monkeypatch.setenv("SUPPORTBOT_SUPPORTED_LANGUAGES", "en,de")
    settings = Settings(_env_file=None)
    assert settings.port == 9123 and settings.supported_languages == ["en", "de"]
    assert settings.index_dir == tmp_path / "index"
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'supportbot.db').resolve()}"


def test_explicit_database_url_wins() -> None:
    url = "postgresql+psycopg://bot@127.0.0.1/supportbot"
    assert Settings(database_url=url, _env_file=None).resolved_database_url == url


@pytest.mark.parametrize(
    ("field", "value"),
    [("port", "0"), ("intent_confidence_threshold", "1.5"), ("retrieval_top_k", "0")],
)
def test_bad_values_are_rejected_with_the_field_named(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(f"SUPPORTBOT_{field.upper()}", value)
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None)


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SUPPORTBOT_MAX_MESSAGE_CHARS=123\n")
    monkeypatch.chdir(tmp_path)
    assert Settings().max_message_chars == 123
