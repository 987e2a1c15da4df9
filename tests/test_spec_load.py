"""The spec loader: strict types, every problem at once, each at file:line:col."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sac.plugins import Plugins
from sac.spec.errors import SpecError
from sac.spec.load import load_text

# The quickstart users copy from the documentation, verbatim.
QUICKSTART = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: apptainer
  apptainer:
    image: ~/.scitex/agent-container/containers/sac-base.sif
  claude:
    model: haiku
    flags:
      - --dangerously-skip-permissions
  startup_prompts:
    - "Reply with the string 'Hello! I am hello-agent-1' and nothing else."
  health:
    enabled: true
    interval: 60
    method: sdk-alive
  restart:
    policy: never
"""


@pytest.fixture(scope="module")
def spec_type():
    return Plugins().spec_type


def load(text: str, spec_type):
    return load_text(textwrap.dedent(text), "spec.yaml", spec_type)


def problems(text: str, spec_type) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(text, spec_type)
    return [p.render() for p in info.value.problems]


def test_quickstart_loads_verbatim(spec_type):
    doc = load(QUICKSTART, spec_type)
    assert doc.spec.runtime == "apptainer"
    assert doc.spec.section("apptainer").image == "~/.scitex/agent-container/containers/sac-base.sif"
    assert doc.spec.claude.model == "haiku"
    assert doc.spec.claude.flags == ["--dangerously-skip-permissions"]
    assert doc.spec.startup_prompts == ["Reply with the string 'Hello! I am hello-agent-1' and nothing else."]
    assert (doc.spec.health.enabled, doc.spec.health.interval, doc.spec.health.method) == (True, 60.0, "sdk-alive")
    assert doc.spec.restart.policy == "never"


def test_defaults_fill_a_minimal_spec(spec_type):
    doc = load("apiVersion: scitex-agent-container/v3\nkind: Agent\n", spec_type)
    assert doc.spec.runtime is None
    assert doc.spec.claude.model == "sonnet"
    assert doc.spec.restart.policy == "on-failure"
    assert doc.spec.section("apptainer") is None


def test_every_problem_is_reported_at_once_with_its_location(spec_type):
    text = """\
    apiVersion: scitex-agent-container/v3
    kind: Agnet
    spec:
      apptainer:
        imgae: x.sif
      claude:
        flags: --dangerously-skip-permissions
      health:
        interval: "60"
        method: sdk-alvie
      restart:
        policy: sometimes
    """
    assert problems(text, spec_type) == [
        "spec.yaml:2:7: kind: 'Agnet' is not allowed (did you mean `Agent`? allowed: Agent)",
        "spec.yaml:5:5: spec.apptainer.imgae: unknown field (did you mean `image`? allowed: "
        "image, binds, env, nv, rocm, overlay, fakeroot, relaxed, mode, raw_args)",
        "spec.yaml:7:12: spec.claude.flags: expected a list of strings, got a string "
        "('--dangerously-skip-permissions') (write it as a list: `- item`)",
        "spec.yaml:9:15: spec.health.interval: expected a number, got a string ('60')",
        "spec.yaml:10:13: spec.health.method: 'sdk-alvie' is not allowed (did you mean `sdk-alive`? "
        "allowed: process, sdk-alive)",
        "spec.yaml:12:13: spec.restart.policy: 'sometimes' is not allowed (allowed: always, never, on-failure)",
    ]


@pytest.mark.parametrize(
    "snippet, expected",
    [
        # unknown fields at any depth
        ("spec:\n  claude:\n    modle: haiku\n", "3:5: spec.claude.modle: unknown field (did you mean `model`?"),
        ("spec:\n  a2a:\n    prot: 1\n", "3:5: spec.a2a.prot: unknown field (did you mean `port`?"),
        ("spec:\n  mcp_servers:\n    fs:\n      comand: npx\n", "4:7: spec.mcp_servers.fs.comand: unknown field"),
        ("metadata:\n  labels:\n    capabilities: [a b]\n", "3:20: metadata.labels.capabilities[0]: 'a b' is not"),
        # no coercion: YAML 1.1 booleans and numbers in text fields
        ("spec:\n  claude:\n    model: on\n", "3:12: spec.claude.model: expected a string, got a boolean (on) (quote"),
        ("spec:\n  startup_prompts: [1.5]\n", "2:21: spec.startup_prompts[0]: expected a string, got a number (1.5)"),
        ("spec:\n  health:\n    enabled: 'yes'\n", "3:14: spec.health.enabled: expected true or false, got a string"),
        (
            "spec:\n  restart:\n    max_retries: 2.5\n",
            "3:18: spec.restart.max_retries: expected an integer, got a number",
        ),
        (
            "spec:\n  restart:\n    max_retries: -1\n",
            "3:18: spec.restart.max_retries: -1 is out of range (an integer >= 0)",
        ),
        ("spec:\n  a2a:\n    port: 70000\n", "3:11: spec.a2a.port: 70000 is out of range (a TCP port 1-65535)"),
        (
            "spec:\n  a2a:\n    port: [1]\n",
            "3:11: spec.a2a.port: expected a TCP port 1-65535 or one of auto, got a list",
        ),
        ("spec:\n  restart:\n    max_retries: 1:30\n", "3:18: spec.restart.max_retries: '1:30' is a base-60 number"),
        (
            "spec:\n  health:\n    interval: 1e3\n",
            "3:15: spec.health.interval: expected a number, got a string ('1e3') (YAML 1.1",
        ),
        ("spec:\n  a2a:\n    port: any\n", "3:11: spec.a2a.port: 'any' is not allowed (allowed: auto)"),
        ("spec:\n  mounts: /data\n", "2:11: spec.mounts: expected a list of strings or mappings, got a string"),
        ("spec:\n  mounts:\n    - {source: /x, mode: rx}\n", "3:26: spec.mounts[0].mode: 'rx' is not allowed"),
        (
            "spec:\n  claude:\n    session: resume\n",
            "3:14: spec.claude.session: 'resume' is not allowed (fresh, new-sess",
        ),
        (
            "spec:\n  claude:\n    provider: [x]\n",
            "3:15: spec.claude.provider: expected a string or a mapping, got a list",
        ),
        ("spec:\n  health: null\n", "2:11: spec.health: expected a mapping, got nothing (null)"),
        ("spec:\n  runtime: local\n  runtime: docker\n", "3:3: spec.runtime: duplicate key (first given at line 4)"),
        ("spec: []\n", "1:7: spec: expected a mapping, got a list"),
        (
            "spec:\n  apptainer:\n    env: {A: 1}\n",
            "3:14: spec.apptainer.env.A: expected a string, got an integer (1) (quote it",
        ),
        ("spec:\n  1: x\n", "2:3: spec: keys must be strings, got an integer (1)"),
    ],
)
def test_each_kind_of_problem(spec_type, snippet, expected):
    header = "apiVersion: scitex-agent-container/v3\nkind: Agent\n"
    found = problems(header + snippet, spec_type)
    # locations in the table count from the snippet; shift by the 2 header lines
    line, rest = expected.split(":", 1)
    want = f"spec.yaml:{int(line) + 2}:{rest}"
    assert any(p.startswith(want) for p in found), f"{want!r} not in {found}"


def test_missing_required_fields_are_named(spec_type):
    assert problems("spec: {}\n", spec_type) == [
        "spec.yaml:1:1: apiVersion: missing required field (one of scitex-agent-container/v3)",
        "spec.yaml:1:1: kind: missing required field (one of Agent)",
    ]


def test_yaml_syntax_errors_keep_line_and_column(spec_type):
    found = problems("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  claude: {model: haiku\n", spec_type)
    assert len(found) == 1 and found[0].startswith("spec.yaml:5:1: YAML syntax error:")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
        ("x: \x00\n", "not valid YAML text"),
    ],
)
def test_unusable_files_are_one_clear_problem(spec_type, text, message):
    found = problems(text, spec_type)
    assert any(message in f for f in found), found


@pytest.mark.parametrize(
    "text, line, col",
    [
        # Flow lists far past libyaml's own limit (1000) and Python's recursion limit.
        ("spec: " + "[" * 3000 + "]" * 3000, 1, 7 + 99),  # the top mapping is level 1
        # Flow mappings.
        ("spec: " + "{a: " * 300 + "1" + "}" * 300, 1, 7 + 4 * 99),
        # Block style: one key per line, indented one more each time.
        ("".join(" " * i + "k:\n" for i in range(150)) + " " * 150 + "v\n", 101, 101),
    ],
    ids=["flow-lists", "flow-maps", "block"],
)
def test_hostile_nesting_is_one_located_problem_of_sacs_own(spec_type, text, line, col):
    """Whatever the YAML library's limits and wording, sac stops at its own depth limit
    and says where, once."""
    from sac.spec.load import MAX_DEPTH

    assert MAX_DEPTH == 100
    found = problems(text, spec_type)
    assert found == [
        f"spec.yaml:{line}:{col}: the document is nested deeper than 100 levels (a spec needs fewer than 10)"
    ]


def test_nesting_up_to_the_limit_is_not_refused(spec_type):
    """The limit refuses only what is past it: 100 levels load (and fail on meaning, not depth)."""
    found = problems("spec: " + "[" * 99 + "]" * 99, spec_type)
    assert not any("nested" in f for f in found), found


def test_not_utf8_is_a_problem(spec_type):
    with pytest.raises(SpecError) as info:
        load_text(b"kind: \xff\n", "spec.yaml", spec_type)
    assert "not UTF-8" in info.value.problems[0].message


def test_anchors_and_merge_keys_work(spec_type):
    doc = load(
        """\
        apiVersion: scitex-agent-container/v3
        kind: Agent
        spec:
          health: &h
            interval: 30
          mcp_servers:
            a: &srv {command: npx, args: [x]}
            b:
              <<: *srv
              args: [y]
        """,
        spec_type,
    )
    assert doc.spec.mcp_servers["b"].command == "npx"
    assert doc.spec.mcp_servers["b"].args == ["y"]


def test_semantic_checks_are_located_and_reported_with_the_rest():
    from sac.agent import spec_checks
    from sac.config import load_settings

    plugins = Plugins()
    text = textwrap.dedent(
        """\
        apiVersion: scitex-agent-container/v3
        kind: Agent
        spec:
          runtime: podman
          mounts:
            - data:/data
            - /a:/b:c:rw
            - /srv/x:/work
          claude:
            provider: nonesuch
          mcp_servers:
            web: {type: http}
        """
    )
    with pytest.raises(SpecError) as info:
        load_text(text, "s.yaml", plugins.spec_type, spec_checks(plugins, load_settings()))
    found = [p.render() for p in info.value.problems]
    assert found[0].startswith("s.yaml:4:12: spec.runtime: unknown runtime 'podman' (installed runtimes: ")
    assert "s.yaml:6:7: spec.mounts[0]: source 'data' must be an absolute path (or start with ~)" in found
    assert "s.yaml:7:7: spec.mounts[1]: '/a:/b:c:rw' has too many ':' (write SRC[:DST][:ro|rw])" in found
    assert "s.yaml:8:7: spec.mounts[2]: target /work is where sac mounts its own (use a path below it)" in found
    assert any(p.startswith("s.yaml:10:15: spec.claude.provider: unknown provider 'nonesuch'") for p in found)
    assert "s.yaml:12:10: spec.mcp_servers.web: an http server needs `url`" in found


# -- property: the loader never fails with anything but its own, located error --------

yaml_fragments = st.sampled_from(
    [
        "apiVersion: scitex-agent-container/v3\n",
        "kind: Agent\n",
        "spec:\n",
        "  runtime: local\n",
        "  claude:\n",
        "    model: haiku\n",
        "    flags: [a, b]\n",
        "  mounts:\n",
        "    - /x:/y:ro\n",
        "  health: {interval: 5}\n",
        "- ",
        ": ",
        "&a ",
        "*a ",
        "<<: ",
        "{",
        "}",
        "[",
        "]",
        '"',
        "'",
        "\t",
        "\n",
        "  ",
        "on",
        "~",
        "!!binary ",
        "!!python/object:os.system ",
        "2001-13-45",
        "0x1F",
        ".nan",
    ]
)


def _check_outcome(text: str, spec_type) -> None:
    try:
        doc = load_text(text, "f.yaml", spec_type)
    except SpecError as e:
        assert e.problems, "a SpecError always carries problems"
        for p in e.problems:
            assert p.file == "f.yaml" and p.line >= 1 and p.col >= 1 and p.message
    else:
        assert doc.kind == "Agent"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_yields_a_spec_or_a_located_error(spec_type, text):
    _check_outcome(text, spec_type)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(yaml_fragments, max_size=25).map("".join))
def test_any_yamlish_text_yields_a_spec_or_a_located_error(spec_type, text):
    _check_outcome(text, spec_type)


@pytest.mark.parametrize(
    "field, written, suggested",
    [
        ("health:\n    interval", "1e3", "1.0e+3"),
        ("health:\n    interval", "1.0e3", "1.0e+3"),
        ("health:\n    interval", "25e-2", "25.0e-2"),
        ("restart:\n    backoff: {factor", "1.0e308", "1.0e+308"),
        ("restart:\n    max_retries", "1e3", "1000"),
    ],
)
def test_a_number_hint_suggests_what_yaml_reads_as_a_number(spec_type, field, written, suggested):
    """D22: the hint said `write 1.0e3`, which YAML 1.1 reads as text too. What the hint
    suggests must load (the spec is then valid on that field)."""
    close = "}" if "{" in field else ""
    text = f"apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  {field}: {written}{close}\n"
    found = problems(text, spec_type)
    assert len(found) == 1 and f"write {suggested})" in found[0], found
    fixed = text.replace(f": {written}", f": {suggested}")
    load(fixed, spec_type)  # raises if the suggestion does not load
