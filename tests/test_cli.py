"""The CLI as users run it: output, --json, exit status, errors without tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLES

from sac.testing import MINIMAL, write_agent


def test_version_and_help(sac):
    assert sac("--version", check=True).stdout.strip() == "sac 0.1.0"
    out = sac("--help", check=True).stdout
    for group in ("accounts", "agents", "config", "host", "image", "listen", "model", "peer", "plugins", "spec"):
        assert f"  {group} " in out
        done = sac(group, "--help")  # every group's help: exit 0, nothing on stderr
        assert (done.returncode, done.stderr) == (0, ""), group
    done = sac("agents", "start", "--help")
    assert done.returncode == 0 and "--foreground" in done.stdout and done.stderr == ""
    done = sac("agents", "start")  # a usage error stays click's: exit 2 with its message
    assert done.returncode == 2 and "Missing argument" in done.stderr


def test_help_imports_nothing_heavy(home):
    import subprocess
    import sys

    code = (
        "import sys\nsys.argv = ['sac', '--help']\nfrom sac.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('claude_agent_sdk', 'a2a', 'granian', 'sac.plugins', 'msgspec') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
    )
    for _ in range(2):  # the first run fills the plugin-command cache, the second uses it
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY=\n" in done.stderr or done.stderr.rstrip().endswith("HEAVY=")


def test_check_reports_ready_agent_and_exit_0(home, sac):
    write_agent(home / "agents", "mini", MINIMAL)
    done = sac("agents", "check", "mini")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["AGENT", "CHECK", "STATUS", "DETAIL"]
    assert lines[1].split()[:3] == ["mini", "spec", "ok"]
    assert ["mini", "runtime", "ok", "local", "(isolation:", "none)"] in [ln.split() for ln in lines]
    assert done.stdout.rstrip().endswith("1 of 1 ready")


def test_runtime_flag_overrides_the_spec_for_this_run_and_says_so(home, sac):
    """--runtime is this run's runtime whatever spec.runtime says (issue 14: `check mini
    --runtime docker` silently checked local)."""
    write_agent(home / "agents", "mini", MINIMAL)  # spec.runtime: local
    done = sac("agents", "check", "mini", "--runtime", "docker", "--json")
    [report] = json.loads(done.stdout)
    assert report["runtime"] == "docker", report
    [row] = [c for c in report["checks"] if c["name"] == "runtime"]
    assert row["detail"].endswith("--runtime docker overrides spec.runtime local for this run"), row
    # without the flag the spec's runtime stands, and nothing is said
    [report] = json.loads(sac("agents", "check", "mini", "--json").stdout)
    assert report["runtime"] == "local"
    assert [c["detail"] for c in report["checks"] if c["name"] == "runtime"] == ["local (isolation: none)"]


def test_check_json_and_failures_exit_1_with_a_fix(home, sac):
    write_agent(home / "agents", "ds", MINIMAL.replace("provider: scripted", "provider: deepseek"))
    done = sac("agents", "check", "ds", "--json", env={"DEEPSEEK_API_KEY": ""})
    assert done.returncode == 1
    [report] = json.loads(done.stdout)
    assert (report["agent"], report["ok"], report["runtime"], report["provider"]) == ("ds", False, "local", "deepseek")
    assert {
        "name": "credentials",
        "ok": False,
        "detail": "no key: $DEEPSEEK_API_KEY (empty)",
        "fix": "export DEEPSEEK_API_KEY=<your key>",
    } in report["checks"]
    done = sac("agents", "check", "ds", env={"DEEPSEEK_API_KEY": "sk-not-shown-anywhere"})
    assert done.returncode == 0
    assert "sk-not-shown-anywhere" not in done.stdout + done.stderr


def test_check_spec_errors_exit_2_all_problems_no_traceback(home, sac):
    spec = write_agent(home / "agents", "typo", MINIMAL + "  healht: {}\n  restart: {policy: sometimes}\n")
    done = sac("agents", "check", "typo", "mini-missing")
    assert done.returncode == 2
    assert f"{spec}:7:3: spec.healht: unknown field (did you mean `health`?" in done.stderr
    assert f"{spec}:8:21: spec.restart.policy: 'sometimes' is not allowed" in done.stderr
    assert "Traceback" not in done.stderr
    assert "mini-missing  agent  FAIL    agent 'mini-missing' not found; searched:" in done.stdout


def test_check_without_arguments_checks_every_agent_on_the_search_path(home, sac):
    done = sac("agents", "check", "--json", "--runtime", "local", env={"SAC_AGENTS_PATH": str(EXAMPLES)})
    names = [r["agent"] for r in json.loads(done.stdout)]
    assert names == ["full-agent", "hello-agent", "minimal-agent", "offline-agent"]


def test_usage_errors_exit_2_and_debug_shows_traceback(home, sac):
    done = sac("agents", "check", "../etc")  # a path, not a name: it is looked at, and is no agent
    assert done.returncode == 2 and "FAIL    no agent folder or spec file at ../etc" in done.stdout, done.stdout
    done = sac("spec", "validate", "bad/name")
    assert done.returncode == 2 and "sac: error: no agent folder or spec file at bad/name" in done.stderr
    done = sac("spec", "validate", "--", "-dash")  # past click's option parsing: sac's own name check
    assert done.returncode == 2 and "invalid agent name '-dash'" in done.stderr, done.stderr
    done = sac("spec", "validate", ".hidden")
    assert done.returncode == 2 and "invalid agent name '.hidden'" in done.stderr
    assert "Traceback" not in done.stderr

    (home / "config.yaml").write_text("default_runtime: [x]\n")
    done = sac("config", "show")
    assert done.returncode == 2
    assert done.stderr.startswith(f"sac: error: {home / 'config.yaml'}:1:18: default_runtime: expected a string")
    done = sac("config", "show", env={"SAC_DEBUG": "1"})
    assert "Traceback" in done.stderr


def test_spec_schema_is_json_schema_with_plugin_sections(sac):
    schema = json.loads(sac("spec", "schema", check=True).stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    spec_def = schema["$defs"][schema["$ref"].rsplit("/", 1)[-1]]["properties"]["spec"]["$ref"].rsplit("/", 1)[-1]
    props = schema["$defs"][spec_def]["properties"]
    assert {"runtime", "claude", "mounts", "health", "restart", "apptainer", "docker", "a2a"} <= set(props)
    assert schema["$defs"]["Restart"]["properties"]["policy"]["enum"] == ["always", "never", "on-failure"]


def test_spec_schema_validates_the_examples(sac):
    """The exported schema agrees with the loader on the bundled examples (jsonschema ships with a2a-sdk's deps)."""
    import pytest
    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(sac("spec", "schema", check=True).stdout)
    for spec in sorted(EXAMPLES.glob("*/spec.yaml")):
        jsonschema.validate(yaml.safe_load(spec.read_text()), schema)


def test_config_show(home, sac):
    data = json.loads(sac("config", "show", "--json", env={"SAC_RUNTIME": "docker"}, check=True).stdout)
    assert data["settings"]["default_runtime"] == {"value": "docker", "source": "environment SAC_RUNTIME"}
    assert data["directories"]["SAC_HOME"] == str(home)
    assert data["automatic"] == {}  # a runtime is set: nothing is automatic
    # unset, it says what sac would pick here, and which config files it looked for (issue 14)
    (home / "config.yaml").write_text("default_provider: scripted\n")
    data = json.loads(sac("config", "show", "--json", check=True).stdout)
    picked = data["automatic"]["default_runtime"]
    assert picked.split(",")[0] in ("apptainer", "docker", "local") and picked.endswith("the best available here")
    project = Path.cwd() / ".scitex" / "agent-container" / "config.yaml"
    assert data["config_files_looked_for"] == [
        {"file": str(home / "config.yaml"), "role": "user config", "found": True},
        {"file": str(project), "role": "project config", "found": False},
    ]
    text = sac("config", "show", check=True).stdout
    assert f"(automatic: {picked})" in text and f"{project} (project config: not there)" in text


def test_names_are_never_paths(home, sac, tmp_path):
    victim = home.parent / "keep-me.txt"
    victim.write_text("precious")
    for args in (
        ("agents", "delete", "-y", "../.."),
        ("agents", "stop", ".."),
        ("agents", "status", "../x"),
        ("agents", "tail", ".."),
        ("agents", "send", "..", "hi"),
    ):
        done = sac(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    assert victim.read_text() == "precious" and home.is_dir()


def test_flags_must_be_flags(home, sac):
    write_agent(
        home / "agents",
        "fl",
        MINIMAL.replace("provider: scripted", "provider: scripted\n    flags: [model, '--x', '--']"),
    )
    done = sac("agents", "check", "fl")
    assert done.returncode == 2
    assert "spec.claude.flags[0]: 'model' is not a flag" in done.stderr
    assert "spec.claude.flags[2]: '--' is not a flag" in done.stderr and "flags[1]" not in done.stderr


def test_unknown_agents_are_clear_errors(home, sac):
    for args, code, message in (
        (("agents", "status", "nope"), 2, "no agent 'nope': no spec on the search path and no runtime state"),
        (("agents", "recall", "nope"), 2, "agent 'nope' has no session to recall"),
        (("agents", "delete", "nope", "-y"), 2, "no agent 'nope': no spec and no runtime state; nothing to delete"),
        (("agents", "find", "nothing"), 1, "no agent lists the capability 'nothing'"),
        (("agents", "tail", "nope"), 2, "agent 'nope' has no transcript"),
    ):
        done = sac(*args)
        assert done.returncode == code and message in done.stderr, (args, done.stderr)
    write_agent(home / "agents", "defined", MINIMAL)
    assert json.loads(sac("agents", "status", "defined", "--json").stdout)["state"] == "never-started"


def test_out_of_range_and_oversized_inputs_are_clear_errors(sac, home, tmp_path):
    """D18: a port out of range was an OverflowError traceback; a huge spec was read whole."""
    done = sac("model", "serve", "--port", "99999")
    assert done.returncode == 2 and "99999" in done.stderr and "Traceback" not in done.stderr
    big = tmp_path / "big" / "spec.yaml"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.write(b"# " + b"x" * (2 << 20) + b"\n")
    done = sac("spec", "validate", str(big))
    assert done.returncode == 2 and "sac reads at most 1048576" in done.stderr, done.stderr


def test_check_reports_every_missing_mount_and_a_workdir_it_cannot_make(sac, home, tmp_path):
    """D23: check said '1 of 1 ready', then start failed on the first missing mount."""
    folder = home / "agents" / "m"
    folder.mkdir(parents=True)
    (tmp_path / "file").write_text("x")
    (folder / "spec.yaml").write_text(
        "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  runtime: local\n"
        "  claude: {provider: scripted}\n  mounts: [/nonexistent-a, '/nonexistent-b:/b']\n"
        f"  workdir: {tmp_path / 'file' / 'sub'}\n"
    )
    done = sac("agents", "check", "m", "--json")
    assert done.returncode == 1
    checks = {c["name"]: c for c in json.loads(done.stdout)[0]["checks"]}
    assert not checks["mounts"]["ok"] and "/nonexistent-a, /nonexistent-b" in checks["mounts"]["detail"]
    assert not checks["workdir"]["ok"] and "cannot be created" in checks["workdir"]["detail"]
    assert sac("agents", "start", "m").returncode == 1  # start runs the same checks first


def test_cli_bad_numbers_are_usage_errors(sac, home):
    """D24: start --timeout -5 reported a failure yet started the agent; tail -n -3 dropped
    the first 3 events; both are bad input now (exit 2, nothing started)."""
    (home / "agents" / "n").mkdir(parents=True)
    (home / "agents" / "n" / "spec.yaml").write_text(
        "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec: {runtime: local, claude: {provider: scripted}}\n"
    )
    for args in (
        ("agents", "start", "n", "--timeout", "-5"),
        ("agents", "start", "n", "--timeout", "0"),
        ("agents", "restart", "n", "--timeout", "nan"),
        ("agents", "tail", "n", "-n", "-3"),
    ):
        done = sac(*args)
        assert done.returncode == 2, (args, done.stderr)
    assert not (home / "runtime" / "n").exists()


def test_an_oversized_prompt_is_refused_before_it_is_sent(sac, home):
    from sac.runner.control import MAX_REQUEST

    (home / "runtime" / "x").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "sac", "agents", "send", "x"],
        input="y" * MAX_REQUEST,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "an agent takes at most" in done.stderr and "Broken pipe" not in done.stderr


def test_a_prompt_that_is_not_utf8_is_a_usage_error(sac, home):
    """N1: invalid UTF-8 on argv or stdin ended in a UnicodeEncodeError traceback."""
    (home / "runtime" / "x").mkdir(parents=True)
    for how in ("stdin", "argv"):
        cmd = [sys.executable, "-m", "sac", "agents", "send", "x"] + ([b"caf\xe9"] if how == "argv" else [])
        done = subprocess.run(cmd, input=b"caf\xe9" if how == "stdin" else None, capture_output=True, timeout=60)
        assert done.returncode == 2 and b"not valid UTF-8" in done.stderr and b"Traceback" not in done.stderr, how


def test_check_catches_a_workdir_under_a_dangling_link(sac, home, tmp_path):
    """D23 (the workdir part, left after the first fix): check said ready, start failed
    '[Errno 17] File exists'."""
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    folder = home / "agents" / "w"
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(
        "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  runtime: local\n"
        f"  claude: {{provider: scripted}}\n  workdir: {tmp_path / 'dangling' / 'work'}\n"
    )
    done = sac("agents", "check", "w")
    assert done.returncode == 1 and "is a link to nothing" in done.stdout, done.stdout


def test_a_closed_pipe_is_not_an_error(sac, home):
    """`sac agents status | head -1` printed 'sac: error: [Errno 32] Broken pipe'."""
    for n in range(3):
        write_agent(home / "agents", f"p{n}", MINIMAL)
    r, w = os.pipe()
    os.close(r)  # the reader is gone before sac writes a byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sac", "agents", "status"], stdout=w, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(w)
    assert done.stderr == "", done.stderr  # (click exits 1 when its reader is gone, quietly)


def test_model_serve_refuses_a_log_it_cannot_write(sac):
    done = sac("model", "serve", "--log", "/proc/nope/x.log")
    assert done.returncode == 2 and "cannot write it" in done.stderr and "Traceback" not in done.stderr


def test_apptainer_gpu_flags_are_checked_where_there_is_no_gpu(sac, home):
    """nv/rocm on a host without that GPU: check says why (it would fail inside, late)."""
    write_agent(
        home / "agents",
        "gpu",
        "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n"
        "  runtime: apptainer\n  claude: {provider: scripted}\n  apptainer: {nv: true, rocm: true}\n",
    )
    report = json.loads(sac("agents", "check", "gpu", "--json").stdout)[0]
    checks = {c["name"]: c for c in report["checks"]}
    if shutil.which("nvidia-smi") is None:
        assert not checks["gpu (nv)"]["ok"] and "nvidia-smi not found" in checks["gpu (nv)"]["detail"]
    if not os.path.exists("/dev/kfd"):
        assert not checks["gpu (rocm)"]["ok"]


def test_check_says_when_sac_home_is_too_deep_for_the_control_socket(tmp_path, sac):
    """`check` said "ready" and `start` then failed: the runner cannot bind a Unix socket
    path over 107 bytes. The preflight says so first, with the fix."""
    from pathlib import Path

    deep = tmp_path / ("d" * 60) / "sac-home"
    shutil.copytree(
        Path(__file__).resolve().parent.parent / "examples" / "agents" / "minimal-agent",
        deep / "agents" / "minimal-agent",
    )
    done = sac("agents", "check", "minimal-agent", env={"SAC_HOME": str(deep)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the control socket path is" in done.stdout and "set SAC_HOME to a shorter directory" in done.stdout
    done = sac("agents", "check", "minimal-agent")  # the same agent under a short SAC_HOME is fine
    assert "control socket" not in done.stdout


def test_an_unknown_agent_is_a_usage_error_everywhere(sac, home):
    """Exit 2 for a name sac knows nothing of (no spec, no state), as `status` always said;
    a known agent that is not running is a failure (exit 1)."""
    for args in (
        ("send", "ghost", "hi"),
        ("health", "ghost"),
        ("status", "ghost"),
        ("stop", "ghost"),
        ("tail", "ghost"),
    ):
        done = sac("agents", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "ghost" in done.stderr and "Traceback" not in done.stderr
    done = sac("peer", "post-turn", "ghost", "hi")  # before asking any control plane
    assert done.returncode == 2 and "no agent 'ghost' on this host" in done.stderr, done.stderr
    known = home / "agents" / "known"
    known.mkdir(parents=True)
    (known / "spec.yaml").write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec: {runtime: local}\n")
    done = sac("agents", "send", "known", "hi")
    assert done.returncode == 1 and "is not running (state: never-started)" in done.stderr
    assert sac("agents", "health", "known").returncode == 1
    done = sac("peer", "post-turn", "known", "hi")  # known, and no control plane: a failure
    assert done.returncode == 1 and "sac listen is not running" in done.stderr, done.stderr
    for prompt in ("", "   "):  # an empty prompt is a usage error, before anything is sent
        done = sac("agents", "send", "known", prompt)
        assert done.returncode == 2 and "the prompt is empty" in done.stderr, done.stderr


def test_human_output_shows_no_python_reprs(sac, home):
    (home / "config.yaml").write_text("default_accounts: {anthropic: work, deepseek: work}\n")
    known = home / "agents" / "known"
    known.mkdir(parents=True)
    (known / "spec.yaml").write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec: {runtime: local}\n")
    out = sac("config", "show").stdout + sac("agents", "health", "known").stdout
    for repr_ in ("{'", "['", "[]", "{}", "True", "False", "None"):
        assert repr_ not in out, (repr_, out)
    assert "anthropic: work, deepseek: work" in out and "ok: no" in out and "last_error: -" in out


def test_validate_and_stop_report_as_json(sac, home, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: scitex-agent-container/v3\nkind: Agnet\nspec: {runtime: local}\n")
    good = home / "agents" / "good"
    good.mkdir(parents=True)
    (good / "spec.yaml").write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec: {runtime: local}\n")
    done = sac("spec", "validate", str(bad), "good", "--json")
    assert done.returncode == 2 and done.stderr == ""
    bad_r, good_r = json.loads(done.stdout)
    assert (bad_r["ok"], good_r["ok"]) == (False, True) and good_r["spec"] == str(good / "spec.yaml")
    assert [(p["line"], p["col"], p["path"]) for p in bad_r["problems"]] == [(2, 7, "kind")]
    done = sac("agents", "stop", "good", "--json")
    assert done.returncode == 2 and done.stderr == ""
    [r] = json.loads(done.stdout)
    assert r["name"] == "good" and r["ok"] is False and "never been started" in r["error"]


def test_every_sac_command_the_code_tells_users_to_run_exists_and_takes_its_arguments(tmp_path):
    """Fixes, hints and notes quote commands (`sac image build base`, ...): each one must be a
    real command whose arguments parse (one said to run `sac image build base` for a runtime
    that had no images). Parsed with click's own parser, not run."""
    import re
    import shlex
    from pathlib import Path

    import click

    from sac.cli.root import cli

    root = Path(__file__).resolve().parent.parent
    sb = tmp_path / "sb"
    sb.mkdir()
    sample = {
        "{name}": "a1",
        "{args[-1]}": str(sb),
        "{directory}": str(sb),
        "NAME": "a1",
        "DIR": str(sb),
        "URL": "http://127.0.0.1:1/",
        "VAR": "K",
        "PKG": "jq",
        "FILE.sif": "/tmp/x.sif",
        "TEXT": "hi",
        "CAPABILITY": "review",
        "PATH": str(sb),
        "--provider P": "--provider deepseek",
    }
    quoted = set()
    # the docs too: a renamed command or option leaves them quoting one that no longer parses
    # (docs/plugin-reference.md is rendered from sac_hookspecs' docstrings: not prose of ours)
    docs = [root / "README.md", *(p for p in (root / "docs").glob("*.md") if p.name != "plugin-reference.md")]
    for source in [*(root / "sac").rglob("*.py"), *(root / "plugins").rglob("*.py"), *docs]:
        quoted |= set(re.findall(r"`(sac [^`\n]+)`", source.read_text()))
    quoted.discard("sac NAME")  # docs/plugins.md: any plugin command
    checked = []
    for text in sorted(quoted):
        if "..." in text or len(text.split()) < 2 or text.split()[1].startswith("-"):  # the group's own options
            continue
        if "--help" in text.split():  # click's own, on every command
            continue
        for placeholder, value in sample.items():
            text = text.replace(placeholder, value)
        args = shlex.split(text)[1:]
        cmd, ctx = cli, click.Context(cli, info_name="sac")
        rest = list(args)
        while isinstance(cmd, click.Group) and rest:  # `sac image` alone names the group
            try:
                name, sub, rest = cmd.resolve_command(ctx, rest)
            except click.UsageError as e:
                raise AssertionError(f"`{text}`: {e.format_message()}") from None
            cmd, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
        if isinstance(cmd, click.Group):
            checked.append(text)
            continue
        try:
            cmd.make_context(cmd.name, list(rest), parent=ctx.parent)
        except click.MissingParameter:
            assert not rest, f"`{text}` lacks a required argument"  # a bare mention names the command only
        except click.UsageError as e:
            raise AssertionError(f"`{text}` does not parse: {e.format_message()}") from None
        checked.append(text)
    assert len(checked) >= 30 and "sac image build base" in checked


def test_start_of_several_says_every_bad_spec_and_missing_agent_at_once_and_starts_none(home, sac):
    one = write_agent(home / "agents", "typo-a", MINIMAL + "  healht: {}\n")
    two = write_agent(home / "agents", "typo-b", MINIMAL + "  restart: {policy: sometimes}\n")
    write_agent(home / "agents", "fine", MINIMAL)
    done = sac("agents", "start", "typo-a", "fine", "nobody", "typo-b")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{one}:7:3: spec.healht: unknown field" in done.stderr
    assert f"{two}:7:21: spec.restart.policy: 'sometimes' is not allowed" in done.stderr
    assert "agent 'nobody' not found" in done.stderr
    assert "3 of these agents cannot start; nothing was started" in done.stderr
    assert not (home / "runtime" / "fine").exists()  # nothing started, not even the good one
    done = sac("agents", "start", "typo-a", "typo-b")  # only spec problems: one list, by file
    assert done.returncode == 2
    assert done.stderr.index(str(one)) < done.stderr.index(str(two))
