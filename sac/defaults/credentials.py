"""The built-in credential stores: ``env`` (read-only) and ``file`` (0600 files under SAC_HOME)."""

from __future__ import annotations

import os
from pathlib import Path

from sac.names import check_name
from sac.paths import sac_home
from sac_hookspecs import CredentialStore, hookimpl
from sac_hookspecs.toolkit.files import private_dirs, write_atomic


class EnvStore(CredentialStore):
    name = "env"
    description = "environment variables of the sac process (read-only)"

    def get(self, key: str) -> str | None:
        return os.environ.get(key) or None

    def list(self) -> list[str]:
        return []  # the environment is not an inventory of secrets: name the variable instead


class FileStore(CredentialStore):
    name = "file"
    description = "one 0600 file per key in $SAC_HOME/credentials (0700)"
    writable = True

    def __init__(self, root: Path | None = None) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root or sac_home() / "credentials"

    def _path(self, key: str) -> Path:
        return self.root / check_name(key, "credential name")

    def get(self, key: str) -> str | None:
        try:
            return self._path(key).read_text() or None
        except FileNotFoundError:
            return None

    def list(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("*") if p.is_file() and not p.name.startswith("."))

    def put(self, key: str, value: str) -> None:
        path = self._path(key)
        private_dirs(path.parent)
        write_atomic(path, value.encode(), mode=0o600)

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
            return True
        except FileNotFoundError:
            return False


@hookimpl
def sac_register_credential_stores(register):
    register(EnvStore())
    register(FileStore())
