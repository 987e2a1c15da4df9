"""``python -m sac.runner SPEC ...``: see sac.runner.entry."""

from sac.runner.entry import main

main()
