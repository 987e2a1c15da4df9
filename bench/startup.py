#!/usr/bin/env python3
"""Start-up times of sac, printed as numbers (this never asserts anything).

    python bench/startup.py [-n RUNS] [--json]

Median wall time of RUNS runs (default 7) of:
  * ``python -c pass`` (the baseline: this interpreter's own start-up)
  * ``sac --help`` and ``sac agents check <minimal-agent>`` from the venv
  * the same two from dist/sac.pyz and dist/sac-lean.pyz when they exist, warm (after the
    first extraction), run by the venv's base interpreter as a user would run them
and, for each pyz, its size and its first-run time (extraction into a fresh SHIV_ROOT;
median of up to 3 runs). Run it from the venv: ``.venv/bin/python bench/startup.py``.

PYTHONDONTWRITEBYTECODE is unset for every run (it is set on some dev/CI machines): with it,
neither the editable sac nor an extracted pyz ever caches bytecode, and every run pays
for compiling (pyz warm ``--help`` 0.16 s instead of 0.09 s), which users don't see.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "agents" / "minimal-agent" / "spec.yaml"
PYZS = [ROOT / "dist" / "sac.pyz", ROOT / "dist" / "sac-lean.pyz"]
VENV_SAC = Path(sys.executable).parent / "sac"
# The pyz needs no venv: run it with the interpreter the venv was made from.
BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"


def wall(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    """Seconds one run of cmd takes (its exit status is ignored: check may exit 1)."""
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed(cmd: list[str], runs: int, env: dict[str, str], cwd: str) -> dict:
    wall(cmd, env, cwd)  # warm-up: page cache, pyc files, sac's help cache
    times = [wall(cmd, env, cwd) for _ in range(runs)]
    return {"median": statistics.median(times), "min": min(times), "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=7, help="runs per measurement (default 7)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    results: dict[str, dict] = {}
    sizes: dict[str, int] = {}
    first_run: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="sac-bench-") as tmp:
        # A fresh SAC_HOME and working dir, so no local agents or config are read.
        env = dict(os.environ, SAC_HOME=str(Path(tmp, "sac-home")))
        for var in ("SAC_AGENTS_PATH", "PYTHONDONTWRITEBYTECODE"):
            env.pop(var, None)
        check = ["agents", "check", str(SPEC)]

        results["python -c pass"] = timed([sys.executable, "-c", "pass"], args.runs, env, tmp)
        if any(p.exists() for p in PYZS):  # the pyz's interpreter may start slower (its .pth files)
            base = [str(BASE_PYTHON), "-c", "pass"]
            results["python -c pass (base, runs the pyz)"] = timed(base, args.runs, env, tmp)
        if VENV_SAC.exists():
            results["sac --help (venv)"] = timed([str(VENV_SAC), "--help"], args.runs, env, tmp)
            results["sac agents check (venv)"] = timed([str(VENV_SAC), *check], args.runs, env, tmp)

        for pyz in PYZS:
            if not pyz.exists():
                continue
            sizes[pyz.name] = pyz.stat().st_size
            # First run: extraction into a fresh SHIV_ROOT each time.
            extract = []
            for i in range(min(3, args.runs)):
                fresh = dict(env, SHIV_ROOT=str(Path(tmp, f"shiv-{pyz.stem}-fresh-{i}")))
                extract.append(wall([str(BASE_PYTHON), str(pyz), "--version"], fresh, tmp))
            first_run[pyz.name] = {"median": statistics.median(extract), "min": min(extract), "runs": len(extract)}
            # Warm: one SHIV_ROOT, already extracted by timed()'s warm-up run.
            warm = dict(env, SHIV_ROOT=str(Path(tmp, f"shiv-{pyz.stem}")))
            run_pyz = [str(BASE_PYTHON), str(pyz)]
            results[f"sac --help ({pyz.name}, warm)"] = timed([*run_pyz, "--help"], args.runs, warm, tmp)
            results[f"sac agents check ({pyz.name}, warm)"] = timed([*run_pyz, *check], args.runs, warm, tmp)

    # sac --help over python -c pass of the same interpreter (venv's, or the base one for a pyz).
    ratios = {}
    for name, r in results.items():
        if name.startswith("sac --help"):
            base = "python -c pass" if "(venv)" in name else "python -c pass (base, runs the pyz)"
            ratios[name] = r["median"] / results[base]["median"]
    report = {
        "python": sys.version.split()[0],
        "timings_s": results,
        "first_run_s": first_run,
        "pyz_bytes": sizes,
        "help_over_python": ratios,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0

    print(f"sac start-up, python {report['python']}, median of {args.runs} runs (seconds)\n")
    width = max(len(n) for n in [*results, *(f"first run ({n}, fresh SHIV_ROOT)" for n in first_run)])
    print(f"{'what':<{width}}  {'median':>7}  {'min':>7}")
    for name, r in results.items():
        print(f"{name:<{width}}  {r['median']:7.3f}  {r['min']:7.3f}")
    for name, r in first_run.items():
        label = f"first run ({name}, fresh SHIV_ROOT)"
        print(f"{label:<{width}}  {r['median']:7.3f}  {r['min']:7.3f}")
    print()
    for name, ratio in ratios.items():
        print(f"{name} / python -c pass (same interpreter): {ratio:.1f}x")
    for name, size in sizes.items():
        print(f"{name}: {size / 1e6:.1f} MB")
    if not sizes:
        print("no dist/*.pyz: build them with `make pyz` to time them too")
    return 0


if __name__ == "__main__":
    sys.exit(main())
