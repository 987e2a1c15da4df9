"""``sac listen``: the per-host HTTP control plane (bearer token, loopback by default)."""
