#!/usr/bin/env python3
"""Keep a random sample of a cosmic-ray session's pending mutants; mark the rest skipped.

    python build/mutate_sample.py SESSION.sqlite N [--seed S]

For modules whose tests are live agents (minutes per surviving mutant on 2 cores), a run
of every mutant takes a day; an unbiased sample of N gives the score within a few points
(mutate_report.py counts only mutants whose tests ran, so skipped ones do not count).
Run with cosmic-ray importable: `uv run --no-project --with cosmic-ray==8.7.0 python ...`.
"""

from __future__ import annotations

import argparse
import random

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session")
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    with use_db(args.session, WorkDB.Mode.open) as db:
        pending = sorted(item.job_id for item in db.pending_work_items)
        keep = set(random.Random(args.seed).sample(pending, min(args.n, len(pending))))
        drop = [job for job in pending if job not in keep]
        db.set_multiple_results(drop, WorkResult(output="not in the sample", worker_outcome=WorkerOutcome.SKIPPED))
    print(f"{len(keep)} of {len(pending)} pending mutants kept (seed {args.seed})")


if __name__ == "__main__":
    main()
