"""ssh hosts and agent folders without a network: the registry, the ssh command sac builds,
and the tar streams that carry agent folders (what a hostile stream cannot do). The real
ssh story is tests/live/test_ssh_fleet.py."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from sac import fleet, hosts
from sac.cli.remote import split
from sac.errors import SacError, UsageError


@pytest.fixture
def home(home, monkeypatch, tmp_path_factory):
    """A SAC_HOME short enough for ssh's control socket (pytest's own paths are not)."""
    import tempfile

    short = tempfile.mkdtemp(prefix="sf", dir="/tmp")
    monkeypatch.setenv("SAC_HOME", short)
    from pathlib import Path

    yield Path(short)
    import shutil

    shutil.rmtree(short, ignore_errors=True)


def test_a_deep_sac_home_is_refused_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("SAC_HOME", str(tmp_path / ("d" * 80)))
    with pytest.raises(SacError, match="too long for Unix sockets") as e:
        hosts.control_path("lab", hosts.Host(target="me@lab"))
    assert "shorter" in e.value.hint


def test_hosts_yaml_round_trips_private(home):
    assert hosts.load_hosts() == {}
    hosts.save_hosts({"lab": hosts.Host(target="me@lab", options=["IdentityFile=/k"])})
    assert hosts.hosts_file().stat().st_mode & 0o777 == 0o600
    assert hosts.load_hosts()["lab"].options == ["IdentityFile=/k"]
    with pytest.raises(UsageError, match="no host 'gpu'"):
        hosts.get_host("gpu")
    hosts.hosts_file().write_text("lab: {target: 3, colour: red}\n")
    with pytest.raises(UsageError, match="hosts.yaml"):
        hosts.load_hosts()


def test_the_ssh_command_is_bounded_prompt_free_and_the_users_options_win(home):
    h = hosts.Host(target="me@lab", options=["ConnectTimeout=30", "IdentityFile=/k"])
    argv = hosts.ssh_argv("lab", h, ["sac", "agents", "send", "x; rm -rf ~"])
    opts = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert opts[0] == "BatchMode=yes" and "ControlMaster=auto" in opts
    assert [o for o in opts if o.startswith("ConnectTimeout")] == ["ConnectTimeout=30"]  # theirs, ours dropped
    assert "ServerAliveInterval=3" in opts
    assert argv[-3:] == ["--", "me@lab", "sac agents send 'x; rm -rf ~'"]  # one word for the remote shell
    for owned in ("BatchMode=no", "controlpath=/tmp/x", "ControlMaster=yes"):
        with pytest.raises(UsageError, match="sac's to set"):
            hosts.check_option(owned)
    with pytest.raises(UsageError, match="KEY=VALUE"):
        hosts.check_option("-oProxyCommand")


def test_the_master_socket_dir_is_private_and_its_path_short(home):
    d = hosts.socket_dir()
    os.chmod(d, 0o755)
    path = hosts.control_path("lab", hosts.Host(target="me@lab"))
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path != hosts.control_path("lab", hosts.Host(target="me@lab2"))  # a new target, a new master


def test_the_remote_sac_command(home):
    assert hosts.sac_command(hosts.Host(target="t")) == ["sac"]
    pyz = hosts.Host(target="t", sac="bin/sac.pyz", home="/s/h", python="python3.11")
    assert hosts.sac_command(pyz) == ["env", "SAC_HOME=/s/h", "python3.11", "bin/sac.pyz"]


def test_names_at_hosts_split_from_local_refs():
    assert split(["a", "b@lab", "c@lab", "d@hpc", "./x@y/spec.yaml"]) == (
        ["a", "./x@y/spec.yaml"],
        {"lab": ["b", "c"], "hpc": ["d"]},
    )
    with pytest.raises(UsageError, match="host name"):
        split(["a@"])


def _folder(root, name="agent"):
    d = root / name
    (d / "to_home" / ".config").mkdir(parents=True)
    (d / "spec.yaml").write_text("kind: Agent\n")
    (d / "to_home" / ".config" / "x").write_text("x")
    return d


def test_a_folder_travels_whole_and_the_same_folder_packs_the_same(home, tmp_path):
    src = _folder(tmp_path)
    data = fleet.pack({"agent": src})
    assert data == fleet.pack({"agent": src})
    assert fleet.unpack(data) == {
        "agent": {"spec.yaml": b"kind: Agent\n", "to_home": None, "to_home/.config": None, "to_home/.config/x": b"x"}
    }
    target = home / "agents" / "agent"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("from before")
    assert fleet.receive(data) == {"installed": ["agent"], "kept": []}
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "spec.yaml",
        "to_home",
        "to_home/.config",
        "to_home/.config/x",
    ]
    assert not [p for p in (home / "agents").iterdir() if p.name.startswith(".")]  # no temp folders left
    assert fleet.unpack(fleet.pack_installed([])) == fleet.unpack(data)


def test_a_link_in_a_folder_is_refused_before_anything_travels(tmp_path):
    src = _folder(tmp_path)
    (src / "to_home" / "secrets").symlink_to("/etc")
    with pytest.raises(UsageError, match="only files and folders travel"):
        fleet.pack({"agent": src})


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


@pytest.mark.parametrize(
    "name, kind",
    [
        ("agent/../../escaped", tarfile.REGTYPE),
        ("/etc/agent", tarfile.REGTYPE),
        ("agent/link", tarfile.SYMTYPE),
        ("agent/hard", tarfile.LNKTYPE),
        ("agent/fifo", tarfile.FIFOTYPE),
        ("../agent", tarfile.REGTYPE),
    ],
)
def test_a_hostile_stream_writes_nothing(home, tmp_path, name, kind):
    top = tarfile.TarInfo("agent")
    top.type = tarfile.DIRTYPE
    bad = tarfile.TarInfo(name)
    bad.type = kind
    bad.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    data = _tar((top, None), (bad, b"owned" if kind == tarfile.REGTYPE else None))
    with pytest.raises(SacError):
        fleet.receive(data)
    assert not (home / "agents" / "agent").exists()
    assert not (home / "escaped").exists() and not (home / "agents" / "escaped").exists()
    assert not [p for p in (home / "agents").iterdir()] if (home / "agents").exists() else True


def test_a_stream_that_is_not_a_plain_tar_is_one_error_and_writes_nothing(home):
    sparse = tarfile.TarInfo("agent/big")
    sparse.type = tarfile.GNUTYPE_SPARSE
    top = tarfile.TarInfo("agent")
    top.type = tarfile.DIRTYPE
    file_then_child = [(top, None), (tarfile.TarInfo("agent/a"), b"x"), (tarfile.TarInfo("agent/a/b"), b"y")]
    twice = [(top, None), (tarfile.TarInfo("agent/a"), b"x"), (tarfile.TarInfo("agent/a"), b"y")]
    for data in (b"\x00garbage" * 100, os.urandom(4096), _tar((top, None), (sparse, None)), _tar(*file_then_child),
                 _tar(*twice)):  # fmt: skip
        with pytest.raises(SacError):
            fleet.receive(data)
    assert not (home / "agents").exists() or not list((home / "agents").iterdir())


def test_a_folder_too_big_is_refused_on_both_sides(home, tmp_path, monkeypatch):
    monkeypatch.setattr(fleet, "MAX_FOLDER", 1000)
    src = _folder(tmp_path)
    (src / "blob").write_bytes(b"x" * 1001)
    with pytest.raises(UsageError, match="more than"):
        fleet.pack({"agent": src})
    top = tarfile.TarInfo("agent")
    top.type = tarfile.DIRTYPE
    with pytest.raises(SacError, match="more than"):
        fleet.receive(_tar((top, None), (tarfile.TarInfo("agent/blob"), b"x" * 1001)))


def test_executables_stay_executable_and_hardlinks_travel_as_files(home, tmp_path):
    src = _folder(tmp_path)
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    os.link(src / "spec.yaml", src / "spec-copy.yaml")
    fleet.receive(fleet.pack({"agent": src}))
    got = home / "agents" / "agent"
    assert (got / "run.sh").stat().st_mode & 0o100 and not (got / "spec.yaml").stat().st_mode & 0o111
    assert (got / "spec-copy.yaml").read_text() == "kind: Agent\n"


def test_a_socket_another_user_planted_at_a_masters_path_is_removed(home):
    import socket

    h = hosts.Host(target="me@lab")
    path = hosts.control_path("lab", h)
    path.write_text("not a socket")  # anything but our socket is removed before ssh sees it
    assert hosts.control_path("lab", h) == path and not path.exists()
    os.chmod(path.parent, 0o777)  # a folder that was ever open: others' entries go
    planted = path.parent / "other"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(planted))
    os.chown(planted, 65534, 65534) if os.geteuid() == 0 else None
    hosts.socket_dir()
    assert path.parent.stat().st_mode & 0o777 == 0o700
    if os.geteuid() == 0:
        assert not planted.exists()


def test_what_another_machine_says_is_printed_never_obeyed():
    assert hosts.printable("ok\x1b]52;c;ZXZpbA==\x07 done") == "ok\\x1b]52;c;ZXZpbA==\\x07 done"
    assert hosts.printable("a\nb\tc", keep="\n\t") == "a\nb\tc"
    assert hosts.printable("a\nb") == "a\\x0ab"


def test_one_remote_at_a_time_where_only_one_makes_sense():
    from sac.cli.remote import one_remote_only

    one_remote_only(["a", "b"], "tail")
    one_remote_only(["a@lab"], "tail")
    for refs in (["a@lab", "b"], ["a@lab", "b@lab"]):
        with pytest.raises(UsageError, match="one NAME@HOST"):
            one_remote_only(refs, "tail")


def test_a_turn_for_an_agent_with_no_listen_goes_to_its_own_socket(home):
    """How a turn from another host's agent arrives (`sac peer post-turn NAME` run there over
    ssh): without a listen, straight to the agent's 0600 socket; without that, the error."""
    from sac import peers
    from sac.state import AgentDir, AgentState, Phase

    folder = home / "agents" / "b1"
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec: {runtime: local}\n")
    with pytest.raises(SacError, match="sac listen is not running"):
        peers.target("b1")
    d = AgentDir("b1")
    d.root.mkdir(parents=True)
    d.write_state(AgentState(name="b1", state=Phase.READY, pid=1, pid_start=0, spec_path="x", runtime="local"))
    d.socket.write_text("")  # its socket's place taken: what target() looks at
    assert peers.target("b1") == (f"{peers.CONTROL}b1", None)
    hosts.save_hosts({"lab": hosts.Host(target="me@lab")})
    assert peers.target("b1@lab") == (f"{peers.SSH}lab/b1", None)


def test_probe_of_a_host_ssh_cannot_reach_is_a_report_not_a_crash(home):
    h = hosts.Host(target="nobody@192.0.2.1", options=["ConnectTimeout=1"])  # TEST-NET-1: never routed
    report = fleet.probe("void", h)
    assert report["reachable"] is False and "host void" in report["error"], report
    json.dumps(report)
