#!/usr/bin/env python3
"""Re-run the survivors of a `make mutate` session against the tests as they are now: the
"after" of a before/after mutation score on the same mutants.

    cosmic-ray dump build/.mutate.sqlite | python build/mutate_recheck.py build/mutate.toml

Each surviving mutant's diff is applied to the working tree (`patch -p1`), the config's
test command runs, and the file is restored whatever happens (but a SIGKILL or SIGTERM: then
`git checkout sac/ hookspecs/`). Run it in a clean clone, as `make mutate`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: this by-hand tool needs 3.11's tomllib
    sys.exit("mutate_recheck.py needs Python 3.11 or newer")


def main() -> None:
    config = tomllib.loads(Path(sys.argv[1]).read_text())["cosmic-ray"]
    command, timeout = shlex.split(config["test-command"]), float(config["timeout"])
    items = [json.loads(line) for line in sys.stdin if line.strip()]
    survivors = [(w, r) for w, r in items if r and r["worker_outcome"] == "normal" and r["test_outcome"] == "survived"]
    killed_now = 0
    for w, r in survivors:
        m = w["mutations"][0]
        where = f"{m['module_path']}:{m['start_pos'][0]} {m['operator_name']}"
        original = Path(m["module_path"]).read_bytes()
        try:
            subprocess.run(
                ["patch", "-p1", "--quiet", "--no-backup-if-mismatch"], input=(r["diff"] + "\n").encode(), check=True
            )
            try:
                done = subprocess.run(command, capture_output=True, timeout=timeout)
                killed = done.returncode != 0
            except subprocess.TimeoutExpired:
                killed = True
        finally:
            Path(m["module_path"]).write_bytes(original)
        killed_now += killed
        print(f"{'killed  ' if killed else 'SURVIVED'} {where}", flush=True)
    ran = sum(1 for _, r in items if r and r["worker_outcome"] == "normal")
    before = ran - len(survivors)
    print(
        f"before: {before}/{ran} killed ({100 * before / max(ran, 1):.1f}%); "
        f"after: {before + killed_now}/{ran} killed ({100 * (before + killed_now) / max(ran, 1):.1f}%)"
    )


if __name__ == "__main__":
    main()
