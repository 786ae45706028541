"""The errors that are the user's to fix, in one place.

Each carries a one-line message. The command line prints it and exits with
code 2; the explorer shows it in the page; neither shows a traceback.
"""

from __future__ import annotations

from backends import UnknownLayerError, WeightsError


class ConfigError(ValueError):
    """A setting that cannot work, explained in one line."""


class ImageError(ValueError):
    """A user-facing problem with an image: one line, `"<file>: <problem>"`."""


class BudgetError(ConfigError):
    """A request larger than the limits allow: says the limit and how to raise it."""


class Note(UserWarning):
    """Something a user should know that does not stop the work (e.g. only the first frame of a GIF is used).

    The command line prints it as one line, `style-explainer: note: ...`.
    """


#: Errors that are the user's to fix: one line, never a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (ImageError, ConfigError, WeightsError, UnknownLayerError)


def one_line(error: BaseException) -> str:
    """The error's message on one line (its class name if it has none)."""
    return " ".join(str(error).split()) or type(error).__name__
