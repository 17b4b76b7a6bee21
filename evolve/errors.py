"""Errors that reach the user, and help for writing them."""

import difflib
from collections.abc import Iterable


class UserInputError(ValueError):
    """Bad input from the user: a name, a setting, a file or a run directory.

    The command-line interface prints the message and exits with code 2, so the
    message must name the bad value and say how to fix it.
    """


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """Return a ' Did you mean X?' hint for a misspelt name, or '' if nothing is close."""
    matches = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    if not matches:
        return ""
    return f" Did you mean {matches[0]!r}?"
