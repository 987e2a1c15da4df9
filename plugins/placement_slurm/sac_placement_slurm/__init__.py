"""The ``slurm`` placement: an agent's runner as one Slurm job (``sac agents start NAME --on slurm``).

- **One agent, one job.** The job is named ``sac-NAME-HASH`` (HASH: of the submitter's
  SAC_HOME, so two sac homes of one user never share a name) and submitted with
  ``--dependency=singleton``: Slurm itself never runs two jobs of one name of one user at
  once. One ``squeue`` call sees a whole fleet.
- **Time limits.** The job asks for ``--signal=B:USR1@signal_before`` and ``--requeue``: the
  runner finishes its turn, saves, and requeues its own job; the requeued runner resumes the
  same Claude session.
- **Where it is reached.** The runner serves its control endpoint (and A2A) on the node's
  address, as Slurm reaches the node (its NodeAddr), with a token in a 0600 file.

``spec.placement.slurm`` holds the site's settings; see docs/slurm.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import signal
from typing import Annotated, Any

import msgspec

from sac_hookspecs import Agent, CheckResult, Here, Job, Placement, SacError, hookimpl
from sac_hookspecs.toolkit.files import write_atomic
from sac_hookspecs.toolkit.host import sac_home

from . import slurm

#: Slurm's time formats: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
#: days-hours:minutes, days-hours:minutes:seconds; or UNLIMITED.
TIME = r"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$"
#: Options sac sets itself: an ``extra`` that sets one would break what sac relies on.
OWNED = (
    "--job-name",
    "-J",
    "--output",
    "-o",
    "--error",
    "-e",
    "--dependency",
    "-d",
    "--parsable",
    "--signal",
    "--requeue",
    "--no-requeue",
    "--open-mode",
    "--chdir",
    "-D",
    "--wrap",
    "--export",
    "--array",  # an array job is many runners of one agent
    "-a",
    "--clusters",  # a job id then reads ID;CLUSTER, which squeue and scancel here do not take
    "-M",
)


class SlurmSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """``spec.placement.slurm``: the job's resources, as sbatch options."""

    partition: str | None = None  # --partition
    time: Annotated[str, msgspec.Meta(pattern=TIME)] | None = None  # --time, in Slurm's format ("4:00:00")
    account: str | None = None  # --account
    qos: str | None = None  # --qos
    cpus: Annotated[int, msgspec.Meta(ge=1)] = 1  # --cpus-per-task
    mem: Annotated[str, msgspec.Meta(pattern=r"^\d+[KMGT]?$")] | None = None  # --mem ("4G")
    gres: str | None = None  # --gres ("gpu:1")
    constraint: str | None = None  # --constraint
    #: seconds before the time limit that the runner is told to finish its turn and requeue
    signal_before: Annotated[int, msgspec.Meta(ge=10, le=3600)] = 120
    extra: list[str] = msgspec.field(default_factory=list)  # more sbatch options, as on its command line


def job_name(agent: str) -> str:
    """``sac-NAME-HASH``: one name per agent per sac home (what ``singleton`` holds to one job)."""
    home = hashlib.sha256(str(sac_home()).encode()).hexdigest()[:6]
    return f"sac-{agent}-{home}"


def sbatch_options(agent: Agent, s: SlurmSettings) -> list[str]:
    """The sbatch options of ``agent``'s job: the settings, then sac's own."""
    opts = []
    for flag, value in (
        ("--partition", s.partition),
        ("--time", s.time),
        ("--account", s.account),
        ("--qos", s.qos),
        ("--mem", s.mem),
        ("--gres", s.gres),
        ("--constraint", s.constraint),
    ):
        if value is not None:
            opts.append(f"{flag}={value}")
    opts.append(f"--cpus-per-task={s.cpus}")
    opts += list(s.extra)
    log = agent.runtime_dir / "runner.log"
    opts += [
        f"--job-name={job_name(agent.name)}",
        "--dependency=singleton",
        "--requeue",
        f"--signal=B:USR1@{s.signal_before}",
        f"--output={str(log).replace('%', '%%')}",  # a literal %: Slurm expands %j, %x, ... in it
        "--open-mode=append",
        f"--chdir={os.getcwd()}",
        "--export=ALL",
    ]
    return opts


def _owned(option: str) -> str | None:
    """The option of sac's that ``option`` would set: sbatch takes any unambiguous prefix of a
    long option (``--sig=`` is ``--signal``) and a short one's value attached (``-ofile``)."""
    name = option.split("=", 1)[0]
    if name.startswith("--"):
        hits = [o for o in OWNED if o.startswith("--") and len(name) > 2 and o.startswith(name)]
        return name if name in OWNED else hits[0] if hits else None
    short = option[:2]
    return short if short in OWNED else None


def time_seconds(time: str) -> int | None:
    """Slurm's --time in seconds (None for UNLIMITED)."""
    if time in ("UNLIMITED", "INFINITE"):
        return None
    days, _, rest = time.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    if days:  # days-hours[:minutes[:seconds]]
        h, m, sec = (parts + [0, 0])[:3]
        return ((int(days) * 24 + h) * 60 + m) * 60 + sec
    if len(parts) == 1:  # minutes
        return parts[0] * 60
    if len(parts) == 2:  # minutes:seconds
        return parts[0] * 60 + parts[1]
    return (parts[0] * 60 + parts[1]) * 60 + parts[2]


def extra_problems(s: SlurmSettings) -> list[str]:
    problems = []
    for i, option in enumerate(s.extra):
        if not option.startswith("-") or "\n" in option:
            problems.append(f"extra[{i}] {option!r} is not an sbatch option (write it as on the command line: --x=y)")
        elif owned := _owned(option):
            problems.append(f"extra[{i}] {option!r}: sac sets {owned} itself")
    limit = time_seconds(s.time) if s.time else None
    if limit is not None and s.signal_before >= limit:
        problems.append(
            f"signal_before {s.signal_before} s is not before the end of a job of time {s.time!r} ({limit} s): "
            "make it smaller, or the time longer"
        )
    return problems


def batch_script(command: list[str], env: dict[str, str]) -> str:
    """The job's script: the variables sac passes (names and paths, never secrets), then the
    runner in place of the shell, so the signals Slurm sends the batch step reach it."""
    lines = ["#!/bin/sh", "# written by sac (sac-placement-slurm): the agent's runner, as one job"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    lines.append(f"exec {shlex.join(command)}")
    return "\n".join(lines) + "\n"


class Slurm(Placement):
    name = "slurm"
    description = "one Slurm job per agent (sbatch), controlled from the submitting host"
    settings = SlurmSettings

    def available(self) -> str | None:
        import shutil

        return None if shutil.which("sbatch") else "sbatch is not on PATH (no Slurm client on this host)"

    def check(self, agent: Agent, settings: Any) -> list[CheckResult]:
        s = settings or SlurmSettings()
        rows = [
            CheckResult(name="slurm options", ok=False, detail=p, fix="edit spec.placement.slurm.extra")
            for p in extra_problems(s)
        ]
        try:
            slurm.run(["scontrol", "ping"], deadline=10.0)
            rows.append(CheckResult(name="slurm controller", ok=True, detail="answers"))
        except SacError as e:
            rows.append(
                CheckResult(name="slurm controller", ok=False, detail=e.message, fix=e.hint or "is Slurm up here?")
            )
        return rows

    def submit(self, agent: Agent, settings: Any, command: list[str], env: dict[str, str]) -> Job:
        s = settings or SlurmSettings()
        problems = extra_problems(s)
        if problems:
            raise SacError("; ".join(problems))
        script = agent.runtime_dir / "job.sh"
        write_atomic(script, batch_script(command, env).encode(), mode=0o700)
        out = slurm.run(["sbatch", "--parsable", *sbatch_options(agent, s), str(script)])
        job_id = out.strip().split(";")[0]  # "ID" or "ID;CLUSTER"
        if not re.fullmatch(r"\d+(_\d+)?", job_id):
            raise SacError(f"sbatch answered something that is not a job id: {out.strip()[:80]!r}")
        return Job(id=job_id, state="PENDING", live=True)

    def jobs(self, ids: list[str]) -> dict[str, Job]:
        return slurm.jobs(ids) if ids else {}

    def cancel(self, job_id: str) -> None:
        slurm.run(["scancel", job_id])

    def here(self) -> Here | None:
        job_id = os.environ.get("SLURM_JOB_ID")
        if not job_id:
            return None
        node = os.environ.get("SLURMD_NODENAME") or os.uname().nodename
        return Here(
            job_id=job_id,
            node=node,
            address=reachable_address(node),
            resumed=int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0,
            drain_signal=signal.SIGUSR1,
        )

    def requeue(self, here: Here) -> None:
        try:
            slurm.run(["scontrol", "requeue", here.job_id])
        except SacError:
            # Requeueing its own job ends every process of the job, this scontrol among them,
            # sometimes before it exits 0 (measured: "exit status -15", the job requeued all the
            # same). Submitting again then would run the agent twice: ask Slurm what happened.
            if not self.requeued(here):
                raise

    def requeued(self, here: Here) -> bool:
        """Slurm counts a job's requeues (``Restarts=``); this run began at SLURM_RESTART_COUNT.
        Measured: inside the job, at the SIGTERM of `scontrol requeue` and of `scancel` alike,
        the job is COMPLETING; only a requeue has already raised Restarts."""
        return slurm.restarts(slurm.run(["scontrol", "show", "job", "--oneliner", here.job_id])) > int(
            os.environ.get("SLURM_RESTART_COUNT") or 0
        )


def reachable_address(node: str) -> str:
    """An address of this node that the submitting host reaches: SAC_NODE_ADDRESS if set;
    else the node's NodeAddr (how the controller reaches it); else the address this node
    would send from to the submitting host; never loopback."""
    import ipaddress
    import socket

    def usable(address: str | None) -> str | None:
        if not address:
            return None
        try:
            ip = str(socket.getaddrinfo(address, None, proto=socket.IPPROTO_TCP)[0][4][0])
        except OSError:
            return None
        return None if ipaddress.ip_address(ip).is_loopback else ip

    for candidate in (os.environ.get("SAC_NODE_ADDRESS"), slurm.node_address(node)):
        if found := usable(candidate):
            return found
    submit_host = os.environ.get("SLURM_SUBMIT_HOST")
    if submit_host:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((submit_host, 9))  # no packet is sent: the kernel picks the route's source
                if found := usable(s.getsockname()[0]):
                    return found
        except OSError:
            pass
    found = usable(socket.gethostname())
    if found is None:
        raise SacError(
            f"cannot find an address of node {node} that is not loopback",
            hint="set SAC_NODE_ADDRESS before `sac agents start` (the job inherits the environment)",
        )
    return found


@hookimpl
def sac_register_placements(register):
    register(Slurm())
