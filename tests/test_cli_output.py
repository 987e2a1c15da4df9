"""Output people read, and output programs read (issue 14): every command that reports takes
--json and prints one JSON document on stdout, with the exit status it has without it."""

from __future__ import annotations

import json

from sac.testing import MINIMAL, write_agent

DEEPSEEK = MINIMAL.replace("provider: scripted", "provider: deepseek")
NO_KEY = {"DEEPSEEK_API_KEY": ""}


def one_document(done) -> object:
    """stdout is exactly one JSON document (json.loads refuses trailing text)."""
    return json.loads(done.stdout)


def test_start_json_has_a_row_for_an_agent_that_could_not_start(sac, home):
    """`start --json` left out the agents that failed: a script saw `[]` and exit 1."""
    write_agent(home / "agents", "ds", DEEPSEEK)
    done = sac("agents", "start", "ds", "--json", env=NO_KEY)
    assert done.returncode == 1
    assert "sac: error: agent ds cannot start" in done.stderr  # the person's message is unchanged
    [row] = one_document(done)
    assert (row["name"], row["ok"], row["state"]) == ("ds", False, "never-started")
    assert "cannot start" in row["error"] and "DEEPSEEK_API_KEY" in row["error"]


def test_restart_json(sac, home):
    write_agent(home / "agents", "ds", DEEPSEEK)
    done = sac("agents", "restart", "ds", "--json", env=NO_KEY)
    assert done.returncode == 1, done.stderr
    [row] = one_document(done)
    assert (row["name"], row["ok"]) == ("ds", False) and "cannot start" in row["error"]


def test_delete_json(sac, home):
    spec = write_agent(home / "agents", "gone", MINIMAL)
    done = sac("agents", "delete", "gone", "-y", "--json")
    assert done.returncode == 0, done.stderr
    assert one_document(done) == [{"name": "gone", "ok": True, "spec_dir": str(spec.parent)}]
    assert not spec.parent.exists()
    done = sac("agents", "delete", "gone", "-y", "--json")  # a usage error stays one, on stderr
    assert done.returncode == 2 and done.stdout == "" and "no agent 'gone'" in done.stderr


def test_accounts_save_switch_delete_json(sac, home):
    done = sac("accounts", "save", "work", "--from-env", "K", "--json", env={"K": "s3cret-value"})
    assert done.returncode == 0, done.stderr
    assert one_document(done) == {"account": "work", "store": "file", "from": "$K"}
    assert "s3cret-value" not in done.stdout + done.stderr
    done = sac("accounts", "switch", "work", "--provider", "deepseek", "--json")
    assert done.returncode == 0, done.stderr
    assert one_document(done) == {
        "provider": "deepseek",
        "account": "work",
        "was": None,
        "config": str(home / "config.yaml"),
    }
    done = sac("accounts", "delete", "work", "--json")
    assert done.returncode == 0, done.stderr
    assert one_document(done) == {"account": "work", "store": "file", "no_longer_default_for": ["deepseek"]}
    done = sac("accounts", "delete", "work", "--json")
    assert done.returncode == 2 and done.stdout == ""


def test_host_add_and_remove_peer_json(sac, home):
    done = sac("host", "add-peer", "h1", "http://127.0.0.1:7878/", "--token-from-env", "T", "--json", env={"T": "tok"})
    assert done.returncode == 0, done.stderr
    assert one_document(done) == {
        "name": "h1",
        "url": "http://127.0.0.1:7878",
        "token_file": str(home / "peers" / "h1.json"),
    }
    done = sac("host", "remove-peer", "h1", "--json")
    assert done.returncode == 0 and one_document(done) == {"name": "h1", "removed": True}
    done = sac("host", "remove-peer", "h1", "--json")
    assert done.returncode == 2 and done.stdout == ""


def test_listen_stop_json_when_nothing_runs(sac, home):
    done = sac("listen", "stop", "--json")
    assert done.returncode == 0 and one_document(done) == {}


def _state(home, name: str, cost: float) -> None:
    """A stopped agent's state, as its runner left it, with what its turns cost."""
    d = home / "runtime" / name
    d.mkdir(parents=True)
    state = {"name": name, "state": "stopped", "pid": 0, "pid_start": 0, "spec_path": "x", "runtime": "local"}
    (d / "state.json").write_text(json.dumps({**state, "account": "work", "turns": 1, "cost_usd": cost}))


def test_summed_costs_carry_no_float_noise(sac, home):
    """0.1 + 0.2 was 0.30000000000000004 in `accounts status --json` (and `recall`): sums of
    costs are rounded where sac adds them (Usage.add), far below any price."""
    _state(home, "a1", 0.1)
    _state(home, "a2", 0.2)
    done = sac("accounts", "status", "--json")
    assert done.returncode == 0, done.stderr
    assert '"cost_usd": 0.3,' in done.stdout and one_document(done)["work"]["cost_usd"] == 0.3
    events = [{"type": "prompt", "turn": n, "text": "hi", "ts": 1.0} for n in (1, 2)] + [
        {"type": "result", "turn": n, "ok": True, "cost_usd": c, "ts": 2.0} for n, c in ((1, 0.1), (2, 0.2))
    ]
    (home / "runtime" / "a1" / "session.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    done = sac("agents", "recall", "a1", "--json")
    assert done.returncode == 0, done.stderr
    assert '"cost_usd": 0.3,' in done.stdout


def test_an_empty_result_is_an_empty_stdout_and_a_message_on_stderr(sac, home):
    """`sac agents status | wc -l` counted the "no agents yet" sentence as an agent."""
    for args, words in (
        (("agents", "status"), "no agents yet"),
        (("accounts", "list"), "no accounts"),
        (("host", "list-peers"), "no peers"),
    ):
        done = sac(*args)
        assert (done.returncode, done.stdout) == (0, ""), args
        assert words in done.stderr, args


def test_recall_and_tail_show_no_none(sac, home):
    """A turn still running (a prompt, no result) recalled as "last reply:   None"; a failed
    turn without an error tailed as "error: None"."""
    _state(home, "r1", 0.0)
    events = [
        {"type": "prompt", "turn": 1, "text": "first", "ts": 1.0},
        {"type": "result", "turn": 1, "ok": False, "ts": 2.0},
        {"type": "prompt", "turn": 2, "text": "still running", "ts": 3.0},
    ]
    (home / "runtime" / "r1" / "session.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    out = sac("agents", "recall", "r1", check=True).stdout + sac("agents", "tail", "r1", check=True).stdout
    assert "None" not in out, out
    assert "last reply:   -" in out and "[1] # error: the turn failed" in out
