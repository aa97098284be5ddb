#!/usr/bin/env bash
# The split-learning comparison (docs/results/split/README.md): MNIST, 15 clients, IID,
# batch 32, SGD lr 0.02 with momentum 0.9, one local epoch per round, 5 epochs.
# Usage: bash docs/results/split/run.sh [RUNS_DIR [NAME...]]   (from the repository root;
# NAMEs: only those runs, e.g. to share them between two processes)
# Each finished run's summary.json and gzipped metrics.jsonl land in docs/results/split/runs/.
set -euo pipefail
RUNS=${1:-runs/split}
DEST=docs/results/split/runs
PY=${PY:-.venv/bin/python}
ONLY=("${@:2}")
COMMON=(--dataset mnist --partition iid --batch-sizes 32 --eval-every 1 --checkpoint-every 0)
SGD=(--lr 0.02 --client-momentum 0.9)
EPOCH_ROUNDS=125  # signSGD rounds per epoch: 4,000 examples / 32 per client
run() {  # run NAME ARGS...: simulate into $RUNS/NAME, keep its results
  local name=$1; shift
  if [[ ${#ONLY[@]} -gt 0 && " ${ONLY[*]} " != *" $name "* ]]; then return; fi
  if [[ -f $DEST/$name/summary.json ]]; then echo "skip $name (done)"; return; fi
  "$PY" -m signfed simulate "$@" --out "$RUNS/$name" > "$RUNS/$name.log" 2>&1
  mkdir -p "$DEST/$name"
  cp "$RUNS/$name/summary.json" "$DEST/$name/"
  gzip -9nc "$RUNS/$name/metrics.jsonl" > "$DEST/$name/metrics.jsonl.gz"
  echo "done $name: $(grep -o '"final_accuracy": [0-9.]*' "$DEST/$name/summary.json")"
}
mkdir -p "$RUNS"
run one-client-vanilla "${COMMON[@]}" "${SGD[@]}" --clients 1 --rounds 2 --algorithm split \
  --split-variant vanilla --cut-layer conv2
run splitfed "${COMMON[@]}" "${SGD[@]}" --clients 15 --rounds 5 --algorithm split \
  --split-variant splitfed --cut-layer conv2
run splitfed2 "${COMMON[@]}" "${SGD[@]}" --clients 15 --rounds 5 --algorithm split \
  --split-variant splitfed2 --cut-layer conv2
# SFLV2's one server part takes 15 steps for each head's one: at SFLV1's lr it diverges
run splitfed2-lr0.005 "${COMMON[@]}" --lr 0.005 --client-momentum 0.9 --clients 15 \
  --rounds 5 --algorithm split --split-variant splitfed2 --cut-layer conv2
run vanilla "${COMMON[@]}" "${SGD[@]}" --clients 15 --rounds 5 --algorithm split \
  --split-variant vanilla --cut-layer conv2
run ushaped "${COMMON[@]}" "${SGD[@]}" --clients 15 --rounds 5 --algorithm split \
  --split-variant ushaped --cut-layer conv2
run fedavg "${COMMON[@]}" "${SGD[@]}" --clients 15 --rounds 5 --algorithm fedavg
for algorithm in llr mv; do  # one minibatch per client and round, the paper's lr
  run "$algorithm" "${COMMON[@]}" --clients 15 --rounds $((5 * EPOCH_ROUNDS)) \
    --eval-every $EPOCH_ROUNDS --algorithm "$algorithm" --lr 1e-3
done
# Other cuts and encodings of the same SplitFed: bytes per epoch (one epoch each)
for cut in conv1 fc1; do
  run "splitfed-$cut" "${COMMON[@]}" "${SGD[@]}" --clients 15 --rounds 1 --algorithm split \
    --split-variant splitfed --cut-layer "$cut"
done
run splitfed-float16 "${COMMON[@]}" "${SGD[@]}" --clients 15 --rounds 5 --algorithm split \
  --split-variant splitfed --cut-layer conv2 --update-encoding float16 --decision-encoding float16
