"""sac_hookspecs.toolkit.debian: the host's apt mirror, read from deb822 and legacy sources."""

from __future__ import annotations

from sac_hookspecs.toolkit.debian import host_mirror


def test_host_mirror_reads_deb822_and_legacy_sources(tmp_path):
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/os-release").write_text("VERSION_CODENAME=bookworm\n")
    assert host_mirror(tmp_path) == ("http://deb.debian.org/debian", "bookworm")
    (tmp_path / "etc/apt/sources.list").write_text("deb [arch=amd64] http://mirror.example/debian/ bookworm main\n")
    assert host_mirror(tmp_path) == ("http://mirror.example/debian", "bookworm")
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://local.mirror/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert host_mirror(tmp_path) == ("http://local.mirror/debian", "bookworm")
