"""The Python API drives the same real agents as the CLI."""

from __future__ import annotations

import pytest

from sac import api
from sac.errors import SacError
from sac.testing import make_agent

pytestmark = pytest.mark.live


def test_python_api_start_send_status_tail_stop(home):
    make_agent(home, "py1", "local")
    assert api.check("py1").ok
    st = api.start("py1")
    try:
        assert (st.name, st.state, st.runtime) == ("py1", "ready", "local")
        assert api.start("py1").pid == st.pid  # already running: left as is
        assert api.send("py1", "What is 5*5?")["text"] == "25"
        with pytest.raises(SacError, match="HTTP 500 from the model API"):
            api.send("py1", "please fail")
        assert [s.name for s in api.status()] == ["py1"] and api.status("py1").turns == 3
        last = api.tail("py1", 1)[0]
        assert (last["type"], last["ok"], last["turn"]) == ("result", False, 3)
        assert len(api.tail("py1", 0)) > len(api.tail("py1", 3)) == 3
    finally:
        assert api.stop("py1") == "stopped"
    with pytest.raises(SacError, match="not running"):
        api.send("py1", "hi")


def test_python_api_starts_several_at_once_and_a_failure_is_that_agents_alone(fleet):
    for name in ("pa", "pb"):
        make_agent(fleet, name, "local")
    make_agent(fleet, "pbroken", "local", extra=f"  mounts: ['{fleet}/no-such-dir:/data']\n")
    out = api.start_many(["pa", "pbroken", "pb"], jobs=3)
    assert list(out) != [] and set(out) == {"pa", "pb", "pbroken"}
    assert isinstance(out["pbroken"], SacError) and out["pbroken"].exit_code == 1
    assert (out["pa"].state, out["pb"].state) == ("ready", "ready")
    assert api.status("pbroken").state == "never-started"
