#!/usr/bin/env python3
"""The mutation score of a `make mutate` session, and each surviving mutant's diff.

    cosmic-ray dump SESSION.sqlite | python build/mutate_report.py

Counts only mutants whose tests ran (cr-rate counts filtered-out mutants as killed, which
overstates the score). A timeout counts as killed (the tests did not pass).
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def main() -> None:
    items = [json.loads(line) for line in sys.stdin if line.strip()]
    ran = [(w, r) for w, r in items if r and r["worker_outcome"] in ("normal", "abnormal")]
    survived = [(w, r) for w, r in ran if r["test_outcome"] == "survived"]
    pending = sum(1 for _, r in items if r is None)
    per_module = Counter(w["mutations"][0]["module_path"] for w, _ in ran)
    lost = Counter(w["mutations"][0]["module_path"] for w, _ in survived)
    for module in sorted(per_module):
        n, s = per_module[module], lost[module]
        print(f"{module}: {n - s}/{n} killed ({100 * (n - s) / n:.1f}%)")
    if ran:
        print(
            f"total: {len(ran) - len(survived)}/{len(ran)} killed, score {100 * (1 - len(survived) / len(ran)):.1f}%"
            + (f" ({pending} pending)" if pending else "")
        )
    for w, r in survived:
        m = w["mutations"][0]
        print(
            f"\n--- survived: {m['module_path']}:{m['start_pos'][0]} {m['operator_name']} in {m.get('definition_name')}"
        )
        print(r.get("diff") or "")


if __name__ == "__main__":
    main()
