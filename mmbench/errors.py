"""Exceptions that carry a message meant for the person at the keyboard.

Every error a user can cause (bad files, bad flags, unknown names) is raised as a subclass of
:class:`MMBenchError`; the command line prints its message once and exits non-zero, without a
traceback. Anything else escaping is a bug in mmbench.
"""


class MMBenchError(Exception):
    """An error caused by input: its message says what is wrong and how to fix it."""


class DataError(MMBenchError):
    """A dataset file is missing, malformed or inconsistent."""


class ConfigError(MMBenchError):
    """A configuration key, value, flag or name is not valid."""


class TrainingError(MMBenchError):
    """Training cannot go on (for example the loss became NaN)."""
