"""The error every invalid setting raises, and the one-line check that raises it."""


class ConfigError(ValueError):
    """An invalid setting; the message names the flag to change."""


def require(ok: bool, message: str) -> None:
    """ConfigError(message) unless `ok`."""
    if not ok:
        raise ConfigError(message)
