"""sac (scitex-agent-container): one spec.yaml becomes one long-lived, sandboxed Claude Code agent.

Importing ``sac`` is cheap on purpose: the CLI, the spec loader and the plugin manager
each live in their own module and load what they need when they need it.
"""

__version__ = "0.1.0"
