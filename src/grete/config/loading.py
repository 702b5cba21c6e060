"""`load_config`: the broker's settings from overrides, a properties file and the environment.

Precedence, highest first: `--override key=value` flags, a Java `.properties` file, `GRETE_*`
environment variables, Kafka's defaults. An unknown or invalid setting raises `ConfigError`,
whose text is one line naming the setting, so `grete serve` can print it and stop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from grete.config.broker import BROKER_SETTING_NAMES, BrokerConfig
from grete.config.kafka_type import to_kafka_string
from grete.config.properties import parse_properties
from grete.config.validation import SettingError, is_listener_prefixed

ENV_PREFIX = "GRETE_"
# GRETE_* variables read by Grete's tooling (test harness, bench), not broker settings; every
# other unknown GRETE_* variable is an error, so that a misspelt setting cannot go unnoticed.
# GRETE_* variables that configure Grete's tools (the CLI, the test harness), not the broker.
TOOLING_ENV_VARS = frozenset({
    "GRETE_BOOTSTRAP_SERVER", "GRETE_TRACEBACK",
    "GRETE_TEST_BROKER", "GRETE_TANSU_BIN", "GRETE_KAFKA_JAR_DIR",
})


class ConfigError(ValueError):
    """An unknown broker setting or an invalid value. `str(err)` is one line naming it."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message.replace("\r", " ").replace("\n", " "))
        self.setting = setting


def env_var_name(setting: str) -> str:
    """`log.dirs` -> `GRETE_LOG_DIRS`."""
    return ENV_PREFIX + setting.upper().replace(".", "_")


_SETTING_BY_ENV: dict[str, str] = {env_var_name(name): name for name in BROKER_SETTING_NAMES}


def parse_override(text: str) -> tuple[str, str]:
    """Split one `--override key=value` argument; ConfigError if there is no `=`."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"invalid override {text!r}: expected key=value")
    return key.strip(), value.strip()


def load_config(
    *,
    properties_file: Path | None = None,
    overrides: Mapping[str, str] = {},  # read only, so a shared default is safe
    environ: Mapping[str, str] | None = None,
) -> BrokerConfig:
    """Build the broker's settings: overrides > properties file > GRETE_* env vars > defaults.

    `environ=None` reads os.environ. Raises ConfigError for an unknown key in any source
    (including an unknown GRETE_* variable), an unreadable file, or an invalid value.
    """
    merged = _settings_from_env(os.environ if environ is None else environ)
    if properties_file is not None:
        merged.update(_settings_from_file(properties_file))
    _reject_unknown(overrides, "")
    merged.update({key.strip(): value for key, value in overrides.items()})
    try:
        return BrokerConfig.model_validate(merged)
    except ValidationError as err:
        raise _config_error(err) from None


def _settings_from_env(env: Mapping[str, str]) -> dict[str, str]:
    settings: dict[str, str] = {}
    for var, value in env.items():
        if var.startswith(ENV_PREFIX) and var not in TOOLING_ENV_VARS:
            setting = _SETTING_BY_ENV.get(var)
            if setting is None:
                raise ConfigError(f"unknown broker setting in environment variable {var!r}", var)
            settings[setting] = value
    return settings


def _settings_from_file(properties_file: Path) -> dict[str, str]:
    try:
        text = Path(properties_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(f"cannot read properties file '{properties_file}': {reason}") from None
    settings = parse_properties(text)
    _reject_unknown(settings, f" in {properties_file}")
    return settings


def _reject_unknown(settings: Mapping[str, str], where: str) -> None:
    for key in settings:
        if key.strip() not in BROKER_SETTING_NAMES and not is_listener_prefixed(key.strip()):
            raise ConfigError(f"unknown broker setting {key.strip()!r}{where}", key.strip())


def _config_error(err: ValidationError) -> ConfigError:
    first = err.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, SettingError):
        setting, value, reason = cause.setting, cause.value, str(cause)
    else:
        loc = str(first["loc"][0]) if first["loc"] else "?"
        info = BrokerConfig.model_fields.get(loc)
        setting = str(info.alias) if info is not None else loc
        value = first.get("input")
        reason = str(cause) if cause is not None else first["msg"]
    if value is None:
        return ConfigError(f"invalid setting {setting!r}: {reason}", setting)
    shown = value if isinstance(value, str) else to_kafka_string(value)
    return ConfigError(f"invalid value {shown!r} for setting {setting!r}: {reason}", setting)
