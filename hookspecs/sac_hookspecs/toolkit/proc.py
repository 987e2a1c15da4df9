"""Small, bounded subprocess calls for preflights."""

from __future__ import annotations

import subprocess


def probe(argv: list[str], timeout: float = 5.0) -> tuple[bool, str]:
    """Run ``argv``; (exit status was 0, its last meaningful output line). Never raises."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return False, f"{argv[0]}: not found"
    except subprocess.TimeoutExpired:
        return False, f"`{' '.join(argv)}` did not answer within {timeout:g} s"
    except OSError as e:
        return False, f"{argv[0]}: {e.strerror}"
    lines = [ln.strip() for ln in (done.stdout + "\n" + done.stderr).splitlines() if ln.strip()]
    if done.returncode == 0:
        return True, lines[0] if lines else ""
    return False, lines[-1] if lines else f"exit status {done.returncode}"
