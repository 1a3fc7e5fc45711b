"""Errors that carry one sentence for the user: the thing at fault and what to do about it."""
from ..errors import UserError


class DataError(UserError, ValueError):
    """A data file or folder is missing or not what was expected."""


class ConfigError(UserError, ValueError):
    """A configuration file has an unknown key, a wrong type or a bad value."""


class WeightsError(UserError, ValueError):
    """A checkpoint is missing, corrupt, or made for another architecture."""
