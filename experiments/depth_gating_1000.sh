#!/usr/bin/env bash
# The depth and gating rows of the paper's Tables 1 and 4 at the learning proof's budget: 1,000 steps (with a
# CPU-time limit of 30 minutes that does not cut them short), 3 seeds, on the learning proof's data, in the
# background: one `gvis compare` per core, sharing the runs through their locks (docs/ablations.md, "Budgets
# that decide"). Rows in this order: proposed, gnn_1_block, gnn_3_blocks, no_interleaved_residual, simple_gate
# first, then no_gating, mlp_node_updates, limited_gnn, and last the paper's scorer (scoring_learned_head),
# whose checkpoints experiments/scorer_probe.py then reads.
#
#   experiments/depth_gating_1000.sh            # start it (about 3.5 hours on 2 cores); logs appended to RUNS/sweep-K.log
#   experiments/depth_gating_1000.sh            # the same command again resumes it after an interruption
#
# The runs live in their own folder (RUNS, default WORK/runs-1000), apart from the 300-step sweep's. The report
# (OUT) lists the verdicts that changed since the 300-step report's JSON (SINCE) when that file exists. WORK,
# RUNS, OUT, SINCE, CORES and PYTHON may be set in the environment; arguments are passed on to gvis compare
# after the defaults (so they override them: a smoke test runs it at tiny size).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
WORK=${WORK:-runs/learning_proof}
RUNS=${RUNS:-$WORK/runs-1000}
OUT=${OUT:-docs/results/ablations_1000.md}
SINCE=${SINCE:-docs/results/ablations.json}
CORES=${CORES:-2}

args=()
for stem in proposed gnn_1_block gnn_3_blocks no_interleaved_residual simple_gate no_gating mlp_node_updates limited_gnn \
    scoring_learned_head; do
  args+=("configs/ablations/$stem.yaml")
done
args+=(--seeds 3 --preset hard --work "$WORK" --runs "$RUNS" --steps 1000 --minutes 30 --out "$OUT")
if [ -f "$SINCE" ]; then
  args+=(--since "$SINCE")
fi
args+=("$@")

mkdir -p "$RUNS"
for core in $(seq 1 "$CORES"); do
  nohup "$PYTHON" -m gvis compare "${args[@]}" >> "$RUNS/sweep-$core.log" 2>&1 &  # appended: a resumed sweep keeps the earlier log
  echo "started gvis compare $core of $CORES (pid $!); log: $RUNS/sweep-$core.log"
  if [ "$core" -lt "$CORES" ]; then
    # The first process makes the data, the validation set and the tuned rule; the next ones wait for them.
    until [ -f "$WORK/heuristic_default.json" ] && [ -f "$WORK/val/dets.pt" ]; do
      kill -0 "$!" 2>/dev/null || { echo "gvis compare $core ended early: see $RUNS/sweep-$core.log"; exit 1; }
      sleep 10
    done
  fi
done
echo "the last process to finish writes the full report: $OUT"
