#!/bin/bash
#SBATCH --cpus-per-task=1
# A VQE-like optimisation loop (seed 001): each iteration lowers the energy estimate and
# appends it to the convergence data in $BELAY_ARTIFACTS, which Belay keeps after a cancel.
# On SIGTERM (Belay's cancel: scancel --signal=TERM --full) it writes what it has and stops.
out="$BELAY_ARTIFACTS/convergence.csv"
steps="${STEPS:-40}"
echo "iteration,energy" > "$out"
# scancel --full signals every process of the job, so an awk caught mid-iteration dies too:
# the result is read back from the convergence data (bash builtins only), never a half-done one.
stop() {
  mapfile -t rows < "$out"
  last="${rows[-1]}"
  done_i=0
  done_energy=0
  if [ "${#rows[@]}" -gt 1 ]; then done_i="${last%%,*}"; done_energy="${last#*,}"; fi
  echo "{\"stoppedAt\": $done_i, \"energy\": $done_energy, \"complete\": false}" > "$BELAY_ARTIFACTS/result.json"
  echo "cancelled at iteration $done_i: partial results kept"
  exit 0
}
trap stop TERM
for i in $(seq 1 "$steps"); do
  energy=$(awk -v i="$i" 'BEGIN { printf "%.6f", -1.137 * (1 - exp(-i / 8)) }')
  echo "$i,$energy" >> "$out"
  echo "BELAY_PROGRESS {\"ratio\": $(awk -v i="$i" -v n="$steps" 'BEGIN { printf "%.3f", i / n }'), \"message\": \"iteration $i/$steps\", \"data\": {\"energy\": $energy}}"
  sleep "${STEP_SECONDS:-0.5}" & wait $!
done
echo "{\"stoppedAt\": $steps, \"energy\": $energy, \"complete\": true}" > "$BELAY_ARTIFACTS/result.json"
echo "converged: E = $energy"
