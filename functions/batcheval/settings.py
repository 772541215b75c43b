"""Settings models read from the environment with pydantic-settings, the one way every function does.

Each field names its variable as its `validation_alias` (`AliasChoices` for a fallback, such as
`AWS_REGION` then `AWS_DEFAULT_REGION`), so a validation error's location *is* the variable's name.
`from_env()` reads the process environment (or a given mapping, for tests) once, at cold start;
built from keywords (tests, the local runtime) a model holds exactly what it is given and reads
nothing. No `.env` file or secrets directory is ever read, names are case-sensitive (as Lambda's
environment is), an empty variable counts as unset, and a field without a variable name (a nested
model) is never read from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import AliasChoices
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from batcheval.errors import FieldIssue, ValidationError


class EnvironmentSettings(BaseSettings):
    """Base of the functions' settings models (see the module doc)."""

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,
        env_ignore_empty=True,
        validate_by_name=True,
        validate_by_alias=True,
        # Settings may hold secrets: a validation error names the variable, never echoes its value.
        hide_input_in_errors=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keywords only: the environment is read by `from_env`, never by a plain constructor call."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings in `environ` (default: the process environment).

        Raises:
            pydantic.ValidationError: a bad or missing variable; each error's `loc` is its name.
        """
        return cls.read_environment(environ)

    @classmethod
    def read_environment(cls, environ: Mapping[str, str] | None = None, **given: Any) -> Self:
        """The settings in `environ`, with `given` field values taking precedence (nested models)."""
        sources = (
            InitSettingsSource(cls, init_kwargs=given),
            _MappingEnvSource(cls, os.environ if environ is None else environ),
        )
        return cls(_build_sources=(sources, {}))


def variable_names(model: type[BaseSettings]) -> dict[str, str]:
    """Field name → the variable it is read from (the first, for a field with a fallback)."""
    names: dict[str, str] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            alias = alias.choices[0]
        if isinstance(alias, str):
            names[name] = alias
    return names


def invalid_settings(what: str, error: PydanticValidationError) -> ValidationError:
    """A domain ValidationError naming each bad variable (the `loc` of a field read by its alias)."""
    issues = [
        FieldIssue(".".join(str(part) for part in problem["loc"]), problem["msg"])
        for problem in error.errors()
    ]
    names = ", ".join(issue.name for issue in issues)
    return ValidationError(f"invalid {what}: {names}", fields=issues)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, reading only named fields."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field.validation_alias is None:
            return None, field_name, False
        return super().get_field_value(field, field_name)
