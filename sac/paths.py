"""Where sac keeps things: ``$SAC_HOME`` (:func:`sac_hookspecs.toolkit.host.sac_home`, whose
docstring shows what is in it) and the agents' runtime dirs under it. A project may have its
own ``.scitex/agent-container/`` with ``config.yaml`` and ``agents/``, in the working directory
or in a folder above it (found the way git finds ``.git``); it is searched before the user's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

from sac_hookspecs.toolkit.host import sac_home  # plugins find SAC_HOME the same way

PROJECT_SUBDIR = Path(".scitex") / "agent-container"


class Project(NamedTuple):
    """What the walk up from the working directory found."""

    path: Path | None  # the project's .scitex/agent-container, if any
    passed_over: Path | None = None  # one above that is not used: in a folder not only yours
    why: str | None = None  # why it is not used


def find_project(cwd: Path | None = None) -> Project:
    """The working directory's project, else the nearest one above it, as git looks for
    ``.git``. The walk goes up only through folders that are yours and that nobody else may
    write to (sac/trust.py's rule): a folder another user owns or may write to (``/tmp``, a
    group scratch space, someone's home) can hold a ``.scitex`` you never made, so the walk
    stops below it, and names the one there if there is one. A project found is still held
    to the trust rules when it is read (sac/trust.py), wherever it was found.
    ``$SAC_HOME`` and ``~/.scitex/agent-container`` are the user's own, never a project."""
    from sac.trust import why_untrusted

    cwd = cwd or Path.cwd()
    own = {p.resolve() for p in (sac_home(), Path.home() / PROJECT_SUBDIR)}
    for d in [cwd, *cwd.parents]:
        candidate = d / PROJECT_SUBDIR
        if d != cwd:
            reason = why_untrusted(d)  # before looking inside: what is in there is not ours
            if reason:
                why = f"the walk up from the working directory stops below a folder that is not only yours ({d}: {reason})"
                return Project(None, candidate, why) if _probe(candidate) else Project(None)
        found = _probe(candidate)
        if isinstance(found, str):  # there, but it cannot be read: not used, and said
            return Project(None, candidate, found)
        if found and candidate.resolve() not in own:
            return Project(candidate)
    return Project(None)


def is_there(path: Path, directory: bool) -> bool:
    """``path`` is a directory (else a regular file) this user can see. False, not a crash,
    when it cannot be looked at: another user's 0700 ``.scitex`` in /tmp must not stop every
    sac run in /tmp (``Path.is_dir``/``is_file`` raise EACCES)."""
    found = _probe(path) if directory else _probe_file(path)
    return found is True


def _probe_file(path: Path) -> bool:
    import os
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _probe(candidate: Path) -> bool | str:
    """Whether ``candidate`` is a directory, or why it cannot be told: another user's 0700
    ``.scitex`` must not crash every sac run below it (``Path.is_dir`` raises EACCES)."""
    import os
    import stat

    try:
        return stat.S_ISDIR(os.stat(candidate).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        return f"it cannot be read ({e.strerror})"


_warned: set[Path] = set()


def project_dir() -> Path:
    """The project's ``.scitex/agent-container`` (:func:`find_project`); without one, the
    working directory's (which does not exist). A project passed over is said once, on stderr."""
    found = find_project()
    if found.passed_over and found.passed_over not in _warned:
        _warned.add(found.passed_over)
        print(
            f"sac: warning: {found.passed_over} is not used: {found.why}\n"
            f"  hint: to use that project, run sac in {found.passed_over.parent.parent} "
            "(where it is held to the trust rules: safe_directories)",
            file=sys.stderr,
        )
    return found.path or Path.cwd() / PROJECT_SUBDIR


def runtime_dir(name: str) -> Path:
    return sac_home() / "runtime" / name
