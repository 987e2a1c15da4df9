"""Names people choose (agents, accounts): safe as one path component, sane in a table."""

from __future__ import annotations

import re

from sac.errors import UsageError

MAX_NAME = 63
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name(name: str, what: str = "agent name") -> str:
    """Return ``name`` if it is valid, else raise a UsageError saying what is allowed."""
    if not name or len(name) > MAX_NAME or not _NAME.match(name) or ".." in name:
        raise UsageError(
            f"invalid {what} {name!r}: use 1-{MAX_NAME} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, with no '/' and no '..'"
        )
    return name


def is_valid_name(name: str, what: str = "agent name") -> bool:
    """``check_name`` as a predicate, for listings that skip what cannot be an agent."""
    try:
        check_name(name, what)
        return True
    except UsageError:
        return False
