#!/bin/bash
#SBATCH --cpus-per-task=1
# A VQE-like optimisation loop (seed 001): each iteration lowers the energy estimate and
# appends it to the convergence data in $BELAY_ARTIFACTS, which Belay keeps after a cancel.
# On SIGTERM (Belay's cancel: scancel --signal=TERM --full) it writes what it has and stops.
out="$BELAY_ARTIFACTS/convergence.csv"
steps="${STEPS:-40}"
echo "iteration,energy" > "$out"
stop() {
  echo "{\"stoppedAt\": $i, \"energy\": $energy, \"complete\": false}" > "$BELAY_ARTIFACTS/result.json"
  echo "cancelled at iteration $i: partial results kept"
  exit 0
}
trap stop TERM
energy=0
for i in $(seq 1 "$steps"); do
  energy=$(awk -v i="$i" 'BEGIN { printf "%.6f", -1.137 * (1 - exp(-i / 8)) }')
  echo "$i,$energy" >> "$out"
  echo "BELAY_PROGRESS {\"ratio\": $(awk -v i="$i" -v n="$steps" 'BEGIN { printf "%.3f", i / n }'), \"message\": \"iteration $i/$steps\", \"data\": {\"energy\": $energy}}"
  sleep "${STEP_SECONDS:-0.5}" & wait $!
done
echo "{\"stoppedAt\": $steps, \"energy\": $energy, \"complete\": true}" > "$BELAY_ARTIFACTS/result.json"
echo "converged: E = $energy"
