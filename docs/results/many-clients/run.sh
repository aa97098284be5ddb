#!/bin/bash
# 10,000 virtual clients on this machine: FedAvg 10 a round, llr --pooled 15 a round.
cd "$(dirname "$0")/../../.."
S=".venv/bin/signfed simulate --dataset mnist --clients 10000 --partition iid --partition-sizes lognormal --batch-sizes 32 --rounds 300 --eval-every 50 --checkpoint-every 0 --data-dir data"
/usr/bin/time -v $S --algorithm fedavg --clients-per-round 10 --local-epochs 1 --lr 0.05 --out docs/results/many-clients/fedavg > docs/results/many-clients/fedavg.log 2>&1
/usr/bin/time -v $S --algorithm llr --pooled --clients-per-round 15 --lr 0.001 --out docs/results/many-clients/llr > docs/results/many-clients/llr.log 2>&1
