"""What a runner process imports (issue 15). An idle runner's memory is mostly what
claude_agent_sdk imports (mcp and its client/server stack, pydantic models: bench/runner.py
measures it); the runner itself must add nothing heavy to that, and pay for none of it
before its session opens. Behaviour, not timings: which modules are loaded."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import entry_points

from sac.testing import MINIMAL, write_agent

#: `sac _runner SPEC` as lifecycle.spawn_runner runs it, stopped where Runner.run would take
#: the agent's lock and open its claude session: the modules it has by then, and once the
#: session's SDK is imported.
RUNNER = """
import sys
bare = set(sys.modules)
import sac.runner.runner

async def at_the_session(self):
    before = sorted(set(sys.modules) - bare)
    import claude_agent_sdk  # what Session.open imports
    print(repr((before, sorted(set(sys.modules) - bare))))
    return 0

sac.runner.runner.Runner.run = at_the_session
sys.argv = ["sac", "_runner", sys.argv[1]]
from sac.cli import main
main()
"""

#: Nothing of these before the session: the SDK and its stack come with the session, click
#: and the CLI's own modules never (a runner is started as `sac _runner`), and a transport's
#: server only for an agent that has its port.
NOT_BEFORE_THE_SESSION = {
    "click",
    "claude_agent_sdk",
    "mcp",
    "mcp_types",
    "pydantic",
    "jsonschema",
    "anyio",
    "httpx",
    "httpx2",
    "starlette",
    "uvicorn",
    "a2a",
    "granian",
}
CLI_MODULES = {"sac.cli.root", "sac.lifecycle", "sac.preflight", "sac.foreground", "sac.api", "sac.listen"}

#: What sac is built on (pyproject.toml's dependencies, less the SDK and the servers).
FOUNDATIONS = {"msgspec", "yaml", "pluggy", "sac", "sac_hookspecs"}


def tops(modules) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_a_runner_imports_nothing_heavy_before_its_session_and_nothing_beyond_the_sdk_after(home):
    spec = write_agent(home / "agents", "lean", MINIMAL)  # local, scripted model, no A2A port
    done = subprocess.run([sys.executable, "-c", RUNNER, str(spec)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, after = ast.literal_eval(done.stdout.strip().splitlines()[-1])

    early = sorted(m for m in before if m.split(".")[0] in NOT_BEFORE_THE_SESSION or m in CLI_MODULES)
    assert early == [], "imported by a runner before it opens its session"

    code = "import sys\nb = set(sys.modules)\nimport claude_agent_sdk\nprint(repr(sorted(set(sys.modules) - b)))"
    sdk = ast.literal_eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
    plugins = {ep.module.split(".")[0] for ep in entry_points(group="sac")}
    extra = tops(after) - tops(sdk) - set(sys.stdlib_module_names) - FOUNDATIONS - plugins
    extra -= {m for m in extra if m == "cython_runtime" or m.startswith("_cython_")}  # yaml's C loader registers them
    assert extra == set(), "a runner imports these beyond its SDK, the standard library and sac's own"
