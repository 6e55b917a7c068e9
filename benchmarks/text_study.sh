#!/usr/bin/env bash
# FOGAN vs WGAN-GP on the text nets of the original code (batch-norm generator, tflib init), embedded corpus, CPU,
# width 64, 3 seeds, one thread a run, the two methods side by side (~8-13 minutes a round on 2 cores).
# Iterations set for about the same wall-clock: FOGAN's iteration now costs more (the exact first-order target).
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/study_text
mkdir -p "$out"
for seed in 1 2 3; do
  OMP_NUM_THREADS=1 python fogan_text.py --width 64 --iters 1200 --eval-every 200 --seed $seed \
    --runs-dir $out --run-name "fogan__seed$seed" > /dev/null 2>&1 &
  OMP_NUM_THREADS=1 python wgangp.py --dataset text --width 64 --iters 1400 --eval-every 200 --seed $seed \
    --runs-dir $out --run-name "wgangp__seed$seed" > /dev/null 2>&1 &
  wait
done
python benchmarks/plot.py js4 docs/text_faithful_js4.png $out/*
python benchmarks/plot.py js6 docs/text_faithful_js6.png $out/*
