"""The ``scripted`` model: an Anthropic Messages API server that plays a script.

It stands in for a vendor's endpoint so that the real claude CLI can run end to end with
no network and no key: for offline dry runs of a fleet, ``make demo``, and every test.
"""
