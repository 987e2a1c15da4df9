"""The Apptainer argv builder over the spec space (no Apptainer needed): hardened unless
relaxed, nothing duplicated, raw_args last before the image, no values in argv."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sac_runtime_apptainer import ApptainerSpec
from sac_runtime_apptainer.argv import CLI, HARDENING, exec_argv, start_argv

from sac_hookspecs import Launch
from sac_hookspecs.spec import Mount

RAW = st.sampled_from(
    [
        "--nv",
        "--containall",
        "--cleanenv",
        "--no-privs",
        "--bind=/x:/x",
        "--hostname=agent",
        "--writable-tmpfs",
        "--home=/elsewhere",
    ]
)
mounts = st.lists(
    st.builds(
        Mount,
        source=st.sampled_from(["/data", "/scratch", "~/x"]),
        target=st.sampled_from(["/data", "/in", None]),
        mode=st.sampled_from(["ro", "rw"]),
    ),
    max_size=3,
)


@given(
    relaxed=st.booleans(),
    nv=st.booleans(),
    rocm=st.booleans(),
    fakeroot=st.booleans(),
    raw=st.lists(RAW, max_size=4, unique=True),
    ms=mounts,
    overlay=st.sampled_from([None, "/rt/a/overlay.img"]),
)
def test_start_argv_over_the_spec_space(relaxed, nv, rocm, fakeroot, raw, ms, overlay):
    cfg = ApptainerSpec(relaxed=relaxed, nv=nv, rocm=rocm, fakeroot=fakeroot, raw_args=raw)
    launch = Launch(claude_cli="/venv/claude", home="/rt/a/home", workdir="/rt/a/work", mounts=ms, env={})
    argv = start_argv(cfg, launch, image="/img/base.sif", instance="sac-a-1", env_file="/rt/a/env", overlay=overlay)
    assert argv[:3] == ["apptainer", "instance", "start"] and argv[-2:] == ["/img/base.sif", "sac-a-1"]
    for flag in HARDENING:
        assert (argv.count(flag) >= 1) is (not relaxed or flag in raw)
    flags = [a.split("=", 1)[0] for a in argv if a.startswith("--")]
    repeatable = {"--bind", "--env", "--overlay"}
    assert all(flags.count(f) == 1 for f in set(flags) - repeatable), argv  # nothing given twice
    ours = {"--home", "--env-file", "--overlay" if overlay else "--writable-tmpfs"}
    ours |= set() if relaxed else set(HARDENING)
    ours |= {f for f, on in (("--nv", nv), ("--rocm", rocm), ("--fakeroot", fakeroot)) if on}
    kept = [a for a in raw if a.split("=", 1)[0] not in ours]  # --bind is repeatable: kept
    assert argv[-2 - len(kept) : -2] == kept  # raw args last, right before the image
    assert ("--nv" in argv) is (nv or "--nv" in raw)
    assert ("--writable-tmpfs" in argv) is (overlay is None or "--writable-tmpfs" in raw)
    assert f"/venv/claude:{CLI}:ro" in argv and "/rt/a/work:/work:rw" in argv and "/rt/a/home:/home/agent" in argv
    for m in ms:
        assert f"{m.source}:{m.target or m.source}:{m.mode}" in argv


def test_exec_argv_passes_variables_by_name():
    argv = exec_argv("sac-a-1", ["--print"], ["ANTHROPIC_API_KEY", "HOME", "bad-name"])
    assert argv[:2] == ["sh", "-c"]
    assert (
        argv[2] == 'export APPTAINERENV_ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY}" APPTAINERENV_HOME="${HOME}"; exec "$@"'
    )
    assert argv[3:] == ["sh", "apptainer", "exec", "--cleanenv", "--pwd", "/work", "instance://sac-a-1", CLI, "--print"]
    assert "--cleanenv" not in exec_argv("sac-a-1", [], [], clean=False)
