#!/usr/bin/env bash
# `make demo`: two agents from the bundled offline-agent example, started on the best
# runtime this host has, driven by the built-in scripted model. No key, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
SAC=${SAC:-.venv/bin/sac}
export SAC_HOME=${SAC_HOME:-$PWD/.demo}
mkdir -p "$SAC_HOME/agents"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

for n in 1 2; do
  rm -rf "$SAC_HOME/agents/offline-agent-$n"
  cp -r examples/agents/offline-agent "$SAC_HOME/agents/offline-agent-$n"
done
echo "SAC_HOME=$SAC_HOME (delete it to start over)"

run "$SAC" plugins list
runtime=$("$SAC" agents check offline-agent-1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["runtime"])' || true)
echo "best available runtime here: $runtime"
if [ "$runtime" = docker ] && ! docker image inspect sac-base:latest >/dev/null 2>&1; then
  run "$SAC" image build base --runtime docker
fi
if [ "$runtime" = apptainer ] && [ ! -e "$SAC_HOME/containers/sac-base.sif" ]; then
  run "$SAC" image build base --runtime apptainer   # debootstrap from this host's apt mirror: ~1 minute
fi
run "$SAC" agents check offline-agent-1 offline-agent-2
run "$SAC" agents start offline-agent-1 offline-agent-2
run "$SAC" agents status
run "$SAC" agents send offline-agent-1 "What is 2+2?"
run "$SAC" agents send offline-agent-2 "Please write hello.txt"
run cat "$SAC_HOME/runtime/offline-agent-2/work/hello.txt"
run "$SAC" agents tail offline-agent-1 offline-agent-2
run "$SAC" agents recall offline-agent-2
run "$SAC" agents stop offline-agent-1 offline-agent-2
run "$SAC" agents status
