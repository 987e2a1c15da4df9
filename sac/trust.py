"""Whether a project's ``./.scitex/agent-container/`` may be trusted (git's safe.directory).

sac reads a project config and project agents from the working directory, searched before
the user's own. On a shared host (a group directory, /tmp, a 1777 scratch space) another
user can plant them: a config that sends the user's API key to their endpoint, an agent
that shadows the user's own and runs its tools as the user. So a project file is used only
if it and every directory from ``.scitex`` down to it belong to the user running sac and
are writable by nobody else (not the group either: a setgid group folder lets every member
edit it); otherwise sac refuses, says why, and says how to trust it: ``safe_directories``
in the *user* config (never the project's own) or ``SAC_SAFE_DIRECTORIES`` (``:``-separated;
``*`` trusts every project).

The same rule holds for ``$SAC_HOME`` itself (its config, agents and runtime dirs), with no
way around it: a SAC_HOME others can write to is fixed with chmod, not trusted (review N2).
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable
from pathlib import Path

from sac.errors import UsageError


class UntrustedProject(UsageError):
    """A project file or directory another user could have planted."""


def _who(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def why_untrusted(path: Path) -> str | None:
    """Why ``path`` is not to be trusted, or None. Ownership is checked on the link as well
    as on what it points to: a link someone else made is theirs, whatever its target."""
    me = os.geteuid()
    try:
        lst, st = os.lstat(path), os.stat(path)
    except FileNotFoundError:
        return None
    for s in (lst, st):
        if s.st_uid != me:
            return f"it belongs to {_who(s.st_uid)}, not to you ({_who(me)})"
    if st.st_mode & stat.S_IWOTH:
        return f"anyone can write to it (mode {stat.S_IMODE(st.st_mode):04o})"
    if st.st_mode & stat.S_IWGRP:
        return f"its group can write to it (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _is_safe(root: Path, safe: Iterable[str]) -> bool:
    try:
        real = root.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return False
    for entry in safe:
        if entry == "*":
            return True
        try:
            allowed = Path(entry).expanduser().resolve()
        except (OSError, RuntimeError):  # a broken entry trusts nothing; the others still count
            continue
        if real == allowed or allowed in real.parents:  # the project, a folder above, or the config dir
            return True
    return False


class UntrustedHome(UsageError):
    """Something in $SAC_HOME another user could have written."""


def check_home_path(path: Path, home: Path) -> None:
    """Raise UntrustedHome unless ``home`` ($SAC_HOME) and every component from it down to
    ``path`` belong to this user and are writable by nobody else."""
    rel = path.relative_to(home).parts
    for component in [home, *[home.joinpath(*rel[: i + 1]) for i in range(len(rel))]]:
        reason = why_untrusted(component)
        if reason:
            raise UntrustedHome(
                f"{component}: not trusted: {reason}. Another user could have put what sac would run "
                "or where your keys would go",
                hint=f"if it is yours: chmod go-w {component} (and chown it to yourself); else remove it",
            )


def check_project_path(path: Path, project: Path, safe: Iterable[str]) -> None:
    """Raise UntrustedProject unless ``path`` (inside ``project``, the ``.scitex/agent-container``
    directory) and every directory from ``.scitex`` down to it may be trusted."""
    safe = list(safe)
    if _is_safe(project, safe):
        return
    top = project.parent  # .scitex
    parts = [top, *[top / Path(*path.relative_to(top).parts[: i + 1]) for i in range(len(path.relative_to(top).parts))]]
    for component in parts:
        reason = why_untrusted(component)
        if reason:
            where = project.parent.parent
            raise UntrustedProject(
                f"{component}: not trusted: {reason}. A project's .scitex/agent-container can send your keys "
                "elsewhere and run agents as you, so sac does not use one it cannot trust",
                hint=f"if you trust it, add {where} to safe_directories in your own config "
                f"(~/.scitex/agent-container/config.yaml) or to SAC_SAFE_DIRECTORIES; else work in another directory",
            )
