"""Finding agents: by name through the search path, or by a path to a folder or spec.yaml.

Search order for a name: the project's ``.scitex/agent-container/agents`` (in the working
directory or the nearest folder above it: :func:`sac.paths.find_project`), the user's
``$SAC_HOME/agents``, then each directory of ``agents_path`` (``SAC_AGENTS_PATH``,
separated by ':'). A reference containing '/' or ending in .yaml/.yml is a path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sac.config import Settings
from sac.errors import NotFound, UsageError
from sac.names import check_name, is_valid_name
from sac.paths import is_there, project_dir, sac_home

SPEC_FILE = "spec.yaml"


def search_path(settings: Settings) -> list[Path]:
    dirs = [project_dir() / "agents", sac_home() / "agents"]
    dirs += [Path(p).expanduser() for p in settings.agents_path]
    return list(dict.fromkeys(dirs))


def _trust(spec: Path, settings: Settings) -> None:
    """A spec found in the project's folder is used only if this user could have put it
    there alone (sac/trust.py); a path given on the command line is the user's own choice."""
    project, home = project_dir(), sac_home()
    if spec.is_relative_to(project):
        from sac.config import safe_directories
        from sac.trust import check_project_path

        check_project_path(spec, project, safe_directories(settings.safe_directories))
    elif spec.is_relative_to(home):
        from sac.trust import check_home_path

        check_home_path(spec, home)


def is_path(ref: str) -> bool:
    return "/" in ref or ref.endswith((".yaml", ".yml")) or ref in (".", "..")


def resolve(ref: str, settings: Settings) -> tuple[str, Path]:
    """(agent name, spec.yaml path) for an agent name, an agent folder or a spec file."""
    if is_path(ref):
        path = Path(ref).expanduser()
        spec = path / SPEC_FILE if path.is_dir() else path
        if not spec.is_file():
            what = f"no {SPEC_FILE} in {path}" if path.is_dir() else f"no agent folder or spec file at {path}"
            raise NotFound(what, hint=f"an agent is a folder named after it, holding {SPEC_FILE}")
        # The folder's own name, not its link target's: a symlinked agent folder starts, stops
        # and is deleted under the name it is called by (review D5).
        return check_name(Path(os.path.abspath(spec)).parent.name), spec
    check_name(ref)
    searched = []
    for d in search_path(settings):
        spec = d / ref / SPEC_FILE
        if spec.is_file():
            _trust(spec, settings)
            return ref, spec
        searched.append(str(spec))
    raise NotFound(
        f"agent {ref!r} not found; searched:\n" + "\n".join(f"  {s}" for s in searched),
        hint=f"create {searched[1]}, or add a folder to SAC_AGENTS_PATH",
    )


def skipped(settings: Settings) -> list[str]:
    """Folders on the search path that hold a spec.yaml but cannot be agents (their name is
    not a valid agent name), each with why: for listings to mention, not to fail on."""
    out = []
    for d in search_path(settings):
        for spec in sorted(d.glob(f"*/{SPEC_FILE}")) if is_there(d, directory=True) else ():
            try:
                check_name(spec.parent.name)
            except UsageError as e:
                out.append(f"{spec.parent}: {e.message}")
    return out


def discover(settings: Settings) -> Iterator[tuple[str, Path]]:
    """Every agent on the search path, first occurrence of a name winning. A folder whose
    name is not a valid agent name is skipped (see ``skipped``): one bad folder must not
    break the fleet view (review D16)."""
    seen = set()
    for d in search_path(settings):
        for spec in sorted(d.glob(f"*/{SPEC_FILE}")) if is_there(d, directory=True) else ():
            name = spec.parent.name
            if not is_valid_name(name):
                continue
            if name not in seen:
                seen.add(name)
                _trust(spec, settings)
                yield name, spec
