"""What is specific to this repository's suite. The fixtures and helpers themselves
(sac_home, sac_cli, sac_fleet, SAC_NO_SKIP, make_agent, ...) are sac's pytest plugin,
sac.testing, loaded by pytest through its ``pytest11`` entry point."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "agents"

# The suite's base SIF stays where it always was (kept between runs, and by .ci/run).
os.environ.setdefault("SAC_TEST_IMAGE_CACHE", str(REPO / "build" / ".cache" / "apptainer-home"))


# A suite started in the background (`pytest ... &` in a script) inherits SIGINT ignored, and
# so would every sac it starts (an ignored signal stays ignored across exec): the tests that
# press Ctrl-C need it delivered. A handler here is reset to the default in each child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# The suite's short names for the plugin's fixtures.
@pytest.fixture
def home(sac_home) -> Path:
    """A fresh SAC_HOME, and a fresh working directory so no project config leaks in."""
    return sac_home


@pytest.fixture
def sac(sac_cli):
    """Run the real ``sac`` CLI in a subprocess (as users do); returns CompletedProcess."""
    return sac_cli


@pytest.fixture
def fleet(sac_fleet) -> Path:
    """``home`` for tests that start agents: stops every agent the test started, whatever happened."""
    return sac_fleet
