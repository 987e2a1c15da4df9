"""sac.nofollow (the core's part: ensure_dir, open_append; the rest is the toolkit's)."""

from __future__ import annotations

import pytest

from sac.nofollow import open_append
from sac_hookspecs.toolkit.nofollow import PlantedLink


def test_open_append_calls_only_a_link_a_planted_link(tmp_path):
    """A missing directory or a directory in the way is what it is, not "a planted link"
    (a mutant that read every errno up to ELOOP as a link passed the suite)."""
    with pytest.raises(FileNotFoundError):
        open_append(tmp_path / "gone" / "runner.log")
    (tmp_path / "a-dir").mkdir()
    with pytest.raises(IsADirectoryError):
        open_append(tmp_path / "a-dir")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(PlantedLink):
        open_append(tmp_path / "link")
    assert not (tmp_path / "target").exists()  # nothing created through the link
