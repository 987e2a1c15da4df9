"""What a plugin may use of sac beyond the hooks and types: small, tested helpers that the core
uses itself (they live here, not in ``sac``, so a plugin needs only the contract).

A plugin imports ``sac_hookspecs`` and nothing of ``sac``; a meta-test of sac's own suite
(tests/test_plugin_imports.py) holds its first-party plugins to that. Each module is small,
stdlib-only and cheap to import; import the one you need:

- :mod:`.layout` — the container layout every runtime gives an agent: ``WORKDIR`` (/work),
  ``HOME`` (/home/agent), ``SAC_DIR`` (/opt/sac), ``CLI`` (/opt/sac/bin/claude), ``RESERVED``.
- :mod:`.host` — ``sac_home()`` (``$SAC_HOME``; images go in its ``containers/``) and
  ``sac_version()`` (for an image's record of what built it).
- :mod:`.files` — ``write_atomic(path, data, mode)`` (temp file, fsync, rename) and
  ``private_dirs(path)`` (missing folders 0700 whatever the umask).
- :mod:`.nofollow` — ``read_bytes(root, rel)``, ``write_file(root, rel, data, mode)`` and
  ``opened_dir(root, rel)`` under a folder an agent controls, never through a link
  (``PlantedLink``, a :class:`~sac_hookspecs.SacError`, names the link).
- :mod:`.proc` — ``probe(argv, timeout)``: a bounded subprocess for a preflight row.
- :mod:`.mounts` — ``parse_mount(entry)``: a ``spec.mounts`` entry (or a runtime's own bind
  list) in either form, as a :class:`~sac_hookspecs.spec.Mount`.
- :mod:`.debian` — ``debootstrap(root, log)``, ``host_mirror()``, ``BASE_PACKAGES``: the
  Debian base image both first-party runtimes build, from the host's own mirror.

Errors a person should read are :class:`sac_hookspecs.SacError` (``message``, ``hint``): the
``sac`` CLI prints them like its own.
"""
