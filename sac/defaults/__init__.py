"""Plugins shipped inside the core, registered through the same hooks as any other."""
