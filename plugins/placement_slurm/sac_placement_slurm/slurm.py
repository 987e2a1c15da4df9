"""Slurm, through its own commands: ``sbatch --parsable``, ``squeue``, ``sacct``, ``scontrol``,
``scancel`` (what batchspawner, submitit and Parsl drive; no binding that pins a Slurm major).

Every call has a deadline (a controller that does not answer must not hang ``sac agents
status``), and a failure is one line: the command and Slurm's own words.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from sac_hookspecs import Job, SacError

#: How long a Slurm command may take before sac gives up on the controller.
DEADLINE = 30.0

#: Job states in which the job still holds (or will hold) the agent's runner; every other
#: state (COMPLETED, CANCELLED, FAILED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, ...) ended it.
LIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "SUSPENDED",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    }
)
#: States in which the runner's process may run.
RUNNING = frozenset({"RUNNING", "SIGNALING", "STAGE_OUT", "SUSPENDED", "STOPPED"})


def run(argv: list[str], *, stdin: str | None = None, deadline: float = DEADLINE) -> str:
    """Run a Slurm command; its stdout, or SacError with its stderr."""
    if shutil.which(argv[0]) is None:
        raise SacError(f"{argv[0]} is not on PATH: no Slurm client here", hint="run sac on a node of the cluster")
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=deadline, check=False)
    except subprocess.TimeoutExpired:
        raise SacError(
            f"{argv[0]} did not answer within {deadline:g} s", hint="is the Slurm controller up? try `scontrol ping`"
        ) from None
    if done.returncode != 0:
        why = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise SacError(f"{' '.join(argv[:2])} failed: {why}")
    return done.stdout


def job(fields: list[str]) -> Job:
    """A Job from squeue's ``%i|%T|%N|%r`` fields."""
    job_id, state, node, reason = (fields + ["", "", "", ""])[:4]
    state = state.strip().upper().split()[0] if state.strip() else "UNKNOWN"
    state = state.rstrip("+")  # sacct writes CANCELLED+ and "CANCELLED by 0"
    reason = reason.strip()
    return Job(
        id=job_id.strip(),
        state=state,
        live=state in LIVE,
        running=state in RUNNING,
        node="" if node.strip() in ("", "(null)", "None assigned") else node.strip(),
        reason="" if reason in ("None", "(null)") else reason,
    )


def squeue(ids: list[str]) -> dict[str, Job]:
    """The jobs among ``ids`` that the controller still holds (it forgets ended ones after
    MinJobAge, 5 minutes by default), in one call for the whole fleet."""
    wanted = set(ids)
    out = run(["squeue", "--noheader", f"--user={os.getuid()}", "--states=all", "--format=%i|%T|%N|%r"])
    return _wanted(out, wanted)


def _wanted(out: str, wanted: set[str]) -> dict[str, Job]:
    """The jobs among ``wanted`` in ``|``-separated lines of id, state, node, reason."""
    jobs = (job(line.split("|")) for line in out.splitlines() if line.strip())
    return {j.id: j for j in jobs if j.id in wanted}


def sacct(ids: list[str]) -> dict[str, Job]:
    """Ended jobs from the accounting database, where the site keeps one; {} where it does
    not (``accounting_storage/none``: sacct refuses)."""
    if not ids or shutil.which("sacct") is None:
        return {}
    try:
        out = run(
            ["sacct", "--noheader", "--parsable2", "-X", "--format=JobID,State,NodeList,Reason", "-j", ",".join(ids)]
        )
    except SacError:
        return {}
    return _wanted(out, set(ids))


def jobs(ids: list[str]) -> dict[str, Job]:
    """squeue for what the controller holds, sacct for the rest (when there is accounting)."""
    found = squeue(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        found.update(sacct(missing))
    return found


def node_address(node: str) -> str | None:
    """The address Slurm reaches ``node`` at (its NodeAddr), or None."""
    try:
        out = run(["scontrol", "--oneliner", "show", "node", node], deadline=10.0)
    except SacError:
        return None
    for word in out.split():
        if word.startswith("NodeAddr="):
            return word.split("=", 1)[1] or None
    return None


def restarts(show_job: str) -> int:
    """``Restarts=N`` of ``scontrol show job --oneliner`` (0 when it is not there)."""
    import re

    found = re.search(r"(?:^|\s)Restarts=(\d+)(?:\s|$)", show_job)
    return int(found.group(1)) if found else 0
