"""Where things are inside an agent's container: the same for every runtime, so an agent (and
its spec's ``mounts``) sees one layout whichever engine runs it."""

WORKDIR = "/work"  #: the agent's working directory, bound read-write
HOME = "/home/agent"  #: the agent's HOME, persisted in its runtime dir
SAC_DIR = "/opt/sac"  #: what sac binds in read-only
CLI = f"{SAC_DIR}/bin/claude"  #: the claude CLI, bound read-only from the host

#: Targets a ``spec.mounts`` entry may not take (a mount *below* WORKDIR or HOME is fine: it
#: lands inside sac's; anything below SAC_DIR is sac's).
RESERVED = (WORKDIR, HOME, SAC_DIR)
