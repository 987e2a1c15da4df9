"""spec.yaml: the schema (from sac_hookspecs plus plugin sections), the loader, agent names."""
