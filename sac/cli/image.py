"""``sac image ...``: the versions of a runtime's base image: build, list, switch, roll back,
prune, the sandbox/update/freeze workflow and the reproducibility snapshot.

The runtime plugin does the work (:class:`sac_hookspecs.Images`); sac keeps the history
and never removes a version a running agent uses (:mod:`sac.images`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from sac.cli import context
from sac.cli.root import builtin_group
from sac.errors import SacError

RUNTIME = click.option("--runtime", help="The runtime whose images (default: the configured or best available one).")
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def images_of(runtime: str | None):
    """(runtime name, its Images) or a one-line error for a runtime without images."""
    from sac.agent import pick_runtime

    plugins, settings = context.plugins(), context.settings(default_runtime=runtime)
    rt = pick_runtime(settings.default_runtime, plugins)
    images = rt.images()
    if images is None:
        raise SacError(
            f"runtime {rt.name!r} has no images: its agents run on the host as they are",
            hint="name a container runtime: --runtime apptainer (or docker)",
        )
    return rt.name, images


class Progress:
    """Every line into a log file; on the terminal a phase line with the elapsed time, or
    plain lines when piped. The log's path is printed when the step fails."""

    def __init__(self, what: str) -> None:
        from sac.paths import sac_home
        from sac_hookspecs.toolkit.files import private_dirs

        logs = sac_home() / "containers" / "logs"
        private_dirs(logs)  # SAC_HOME is private (review N2)
        self.path = logs / f"{what}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in run)
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()

    def __call__(self, line: str) -> None:
        self.file.write(line + "\n")
        self.file.flush()
        if self.tty:
            click.echo(f"[{time.monotonic() - self.t0:5.0f}s] {line}", err=True)
        else:
            click.echo(f"  {line}", err=True)

    def run(self, what: str, fn):
        try:
            return fn(self)
        except NotImplementedError as e:  # the runtime does not do this: nothing to log
            self.file.close()
            self.path.unlink(missing_ok=True)
            raise SacError(str(e)) from None
        except (RuntimeError, OSError, ValueError) as e:
            self.file.write(f"FAILED: {e}\n")
            raise SacError(f"{what} failed: {e}", hint=f"full log: {self.path}") from None
        finally:
            self.file.close()


def show_version(v, as_json: bool, was: str | None = None) -> None:
    from sac.cli.output import echo_json

    if as_json:
        echo_json(v)
        return
    click.echo(f"{v.version}  {v.ref}")
    note = f" (was {was}; `sac image rollback` goes back)" if was and was != v.version else ""
    click.echo(f"current: {v.version}{note}", err=True)


@builtin_group("image")
def image() -> None:
    pass


@image.command("build")
@click.argument("target", default="base")
@click.option(
    "--from",
    "source",
    metavar="DIR|ARCHIVE.tar|FILE.sif",
    help="Import what the node has: a root filesystem, a docker-archive, an image file.",
)
@RUNTIME
@JSON
def build(target: str, source: str | None, runtime: str | None, as_json: bool) -> None:
    """Build a new image version and make it current. TARGET: `base` (a minimal Debian from
    this host's apt mirror: no registry, no internet) or a definition file. Running agents
    keep the version they started with.

    \b
    Examples:
      sac image build base
      sac image build ./my.def --runtime apptainer
      sac image build --from rootfs.tar --json
    """
    from sac import images as core

    name, images = images_of(runtime)
    if source:
        what, fn = f"import of {source}", lambda log: images.import_image(source, log)
    elif target == "base":
        what, fn = "the base image build", lambda log: images.build_base(log)
    else:
        path = Path(target)
        if not path.is_file():
            raise SacError(f"no definition file {target!r}", hint="TARGET is `base` or a definition file's path")
        what, fn = f"the build of {target}", lambda log: images.build_definition(path.resolve(), log)
    click.echo(f"{what} for {name}", err=True)
    with core.locked(name):
        was = images.current()
        v = Progress("build").run(what, fn)
        core.record(name, v.version, was)
    show_version(v, as_json, was)


def version_rows(name: str, images) -> tuple[list, str | None, dict]:
    from sac import images as core

    current, used = images.current(), core.in_use(name)
    return images.versions(), current, used


@image.command("list")
@RUNTIME
@JSON
def list_(runtime: str | None, as_json: bool) -> None:
    """The versions, oldest first: which is current and which running agents use each.

    \b
    Examples:
      sac image list
      sac image list --runtime docker --json
    """
    from sac import images as core
    from sac.cli.output import echo_json, table

    name, images = images_of(runtime)
    versions, current, used = version_rows(name, images)
    if as_json:
        echo_json([{**_builtins(v), "current": v.version == current, "used_by": core.users(v, used)} for v in versions])
        return
    if not versions:
        click.echo(f"no {name} image versions yet: `sac image build base --runtime {name}` makes one", err=True)
        return
    rows = [
        (
            "*" if v.version == current else "",
            v.version,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created)),
            _size(v.size),
            ", ".join(core.users(v, used)) or "-",
            v.source,
        )
        for v in versions
    ]
    click.echo(table(["", "VERSION", "BUILT", "SIZE", "USED BY", "SOURCE"], rows))


@image.command("status")
@RUNTIME
@JSON
def status(runtime: str | None, as_json: bool) -> None:
    """The current version, the agents on each version, the disk used.

    \b
    Examples:
      sac image status
      sac image status --json
    """
    from sac import images as core
    from sac.cli.output import echo_json

    name, images = images_of(runtime)
    versions, current, used = version_rows(name, images)
    out = {
        "runtime": name,
        "current": current,
        "versions": len(versions),
        "disk_bytes": sum(v.size for v in versions),
        "agents": {v.version: core.users(v, used) for v in versions if core.users(v, used)},
    }
    if as_json:
        echo_json(out)
        return
    click.echo(f"{name}: current {current or '(none)'}; {len(versions)} version(s), {_size(out['disk_bytes'])}")
    for version, agents in out["agents"].items():
        click.echo(f"  {version}: {', '.join(agents)}")


@image.command("switch")
@click.argument("version")
@RUNTIME
@JSON
def switch(version: str, runtime: str | None, as_json: bool) -> None:
    """Make VERSION current (atomically). Running agents keep theirs; new starts take it.

    \b
    Examples:
      sac image switch 20260101-120000
    """
    from sac import images as core

    name, images = images_of(runtime)
    with core.locked(name):
        was = core.switch(name, images, version)
    if as_json:
        from sac.cli.output import echo_json

        echo_json({"runtime": name, "current": version, "was": was})
        return
    click.echo(f"current: {version}" + (f" (was {was})" if was and was != version else ""))


@image.command("rollback")
@RUNTIME
@JSON
def rollback(runtime: str | None, as_json: bool) -> None:
    """Back one step: to the version that was current before the last switch or build (each
    rollback goes one further back).

    \b
    Examples:
      sac image rollback
      sac image rollback --json
    """
    from sac import images as core

    name, images = images_of(runtime)
    with core.locked(name):
        was, now = core.rollback(name, images)
    if as_json:
        from sac.cli.output import echo_json

        echo_json({"runtime": name, "current": now, "was": was})
        return
    click.echo(f"current: {now} (was {was})")


@image.command("prune")
@click.argument("versions", nargs=-1)
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Without VERSIONS: keep this many newest versions.",
)
@click.option("--dry-run", is_flag=True, help="Say what would go; remove nothing.")
@RUNTIME
@click.option("--json", "as_json", is_flag=True, help="Print what was removed and what was kept (and why) as JSON.")
def prune(versions: tuple[str, ...], keep: int, dry_run: bool, runtime: str | None, as_json: bool) -> None:
    """Remove VERSIONS, or all but the --keep newest. Never the current version, never one a
    running agent uses: naming one of those is refused (exit 1), nothing removed.

    \b
    Examples:
      sac image prune --dry-run
      sac image prune --keep 1
      sac image prune 20260101-120000 --json
    """
    from sac import images as core

    name, images = images_of(runtime)
    kept: dict[str, str] = {}
    with core.locked(name):  # nothing may become current between the check and the removal
        if versions:
            core.removable(name, images, list(versions))
            remove = list(versions)
        else:
            remove, kept = core.prune_plan(name, images, keep)
        if not as_json:
            for version, why in kept.items():
                click.echo(f"kept {version}: {why}")
        removed: list[str] = []
        for version in remove:
            if not dry_run:
                try:
                    images.remove(version)
                except (RuntimeError, OSError) as e:
                    if as_json:  # say what went before this one, then fail as without --json
                        from sac.cli.output import echo_json

                        echo_json({"runtime": name, "dry_run": dry_run, "removed": removed, "kept": kept})
                    raise SacError(f"could not remove {version}: {e}") from None
            removed.append(version)
            if not as_json:
                click.echo(f"{'would remove' if dry_run else 'removed'} {version}")
    if as_json:
        from sac.cli.output import echo_json

        echo_json({"runtime": name, "dry_run": dry_run, "removed": removed, "kept": kept})


@image.command("sandbox")
@click.argument("args", nargs=-1, required=True, metavar="[VERSION] DIR")
@RUNTIME
def sandbox(args: tuple[str, ...], runtime: str | None) -> None:
    """A writable directory from VERSION (default: the current one), to `update` and `freeze`.

    \b
    Examples:
      sac image sandbox ./sb
      sac image sandbox 20260101-120000 ./sb
    """
    from sac import images as core

    if len(args) > 2:
        raise SacError("sandbox takes [VERSION] DIR")
    name, images = images_of(runtime)
    version = args[0] if len(args) == 2 else images.current()
    if version is None:
        raise SacError("there is no current version", hint="`sac image build base` makes one")
    core.find(images, version)
    directory = Path(args[-1]).absolute()
    Progress("sandbox").run("sandbox", lambda log: images.sandbox(version, directory, log))
    click.echo(str(directory))
    click.echo(
        f"sandbox of {version}: `sac image update {args[-1]} --apt PKG`, then `sac image freeze {args[-1]}`", err=True
    )


@image.command("update")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--apt", multiple=True, metavar="PKG", help="A Debian package, from the image's apt mirror.")
@click.option("-p", "--pip", multiple=True, metavar="PKG", help="A Python package, with the image's pip.")
@RUNTIME
def update(directory: Path, apt: tuple[str, ...], pip: tuple[str, ...], runtime: str | None) -> None:
    """Install packages into a sandbox; the installer's output is streamed.

    \b
    Examples:
      sac image update ./sb --apt jq -p numpy
    """
    if not apt and not pip:
        raise SacError("nothing to install", hint="name packages with --apt PKG or -p PKG")
    name, images = images_of(runtime)
    Progress("update").run("update", lambda log: images.update(directory.absolute(), list(apt), list(pip), log))
    click.echo(f"updated {directory}: `sac image freeze {directory}` makes it a version", err=True)


@image.command("freeze")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@RUNTIME
@JSON
def freeze(directory: Path, runtime: str | None, as_json: bool) -> None:
    """A new current version from a sandbox directory.

    \b
    Examples:
      sac image freeze ./sb
      sac image freeze ./sb --json
    """
    from sac import images as core

    name, images = images_of(runtime)
    with core.locked(name):
        was = images.current()
        v = Progress("freeze").run("freeze", lambda log: images.freeze(directory.absolute(), log))
        core.record(name, v.version, was)
    show_version(v, as_json, was)


@image.command("snapshot")
@click.argument("version", required=False)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it here (default: stdout)."
)
@click.option("--schema", is_flag=True, help="Print the snapshot's JSON Schema instead.")
@RUNTIME
def snapshot(version: str | None, output: Path | None, schema: bool, runtime: str | None) -> None:
    """A reproducibility capsule (JSON) of VERSION (default: current): digest, definition,
    packages, sac/runtime/claude CLI versions and the specs of the agents that ran on it.

    \b
    Examples:
      sac image snapshot -o env.json
      sac image snapshot --schema
    """
    import msgspec

    from sac import images as core

    if schema:
        data = msgspec.json.encode(msgspec.json.schema(core.Snapshot))
    else:
        name, images = images_of(runtime)
        version = version or images.current()
        if version is None:
            raise SacError("there is no current version", hint="`sac image build base` makes one")
        data = msgspec.json.encode(core.snapshot(name, images, version), order="sorted")
    text = msgspec.json.format(data, indent=2).decode() + "\n"
    if output:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _builtins(v) -> dict:
    import msgspec

    out = msgspec.to_builtins(v)
    out.pop("packages", None)  # `snapshot` has them; a list of hundreds is not a table's business
    return out


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
