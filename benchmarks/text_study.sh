#!/usr/bin/env bash
# FOGAN vs WGAN-GP (the paper's TTUR baseline) on the embedded corpus, CPU, width 64, 3 seeds each.
# Iterations are set so both get about the same wall-clock (~8 min a run on one core; FOGAN's step is cheaper).
# Then: python common.py plot js4 docs/text_js4.png runs/study_text/*   (and js6)
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/study_text
mkdir -p "$out"
for seed in 1 2 3; do
  OMP_NUM_THREADS=1 python fogan_text.py --width 64 --iters 2400 --eval-every 200 --seed $seed \
    --runs-dir $out --run-name "fogan__seed$seed" &
  OMP_NUM_THREADS=1 python wgangp.py --dataset text --width 64 --iters 2150 --eval-every 200 --seed $seed \
    --runs-dir $out --run-name "wgangp__seed$seed" &
  wait
done
python common.py plot js4 docs/text_js4.png $out/*
python common.py plot js6 docs/text_js6.png $out/*
