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
