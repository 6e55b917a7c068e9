"""Multi-seed studies on the 2D toys (CPU, one thread a run, `--workers` runs at a time), then a figure and a table.

    python benchmarks/study.py penalties     # issue: where to put the penalty (swissroll, 25gaussians; lam = 10)
    python benchmarks/study.py blog --width 512 --iters 1000   # the same question under the notebook's setting
    python benchmarks/study.py advas         # AdvAs vs WGAN-GP, n_critic in {1, 2, 5}, 25gaussians
    python benchmarks/study.py penalties --summary-only    # redo figures/table from runs/ already there

Runs go to runs/study_<name>/<arm>__<dataset>__seed<k>/; figures to docs/; the table is printed (markdown).
"""
import argparse
import collections
import concurrent.futures
import csv
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# arm name -> script and flags; every arm shares the toy settings (batch 256, Adam 1e-4 (0.5, 0.9), 5 critic steps)
PENALTY_ARMS = {
    "wgangp": ["wgangp.py", "--lam", "10"],
    "wgangp-one-sided": ["wgangp.py", "--lam", "10", "--one-sided"],
    "dragan-original": ["dragan.py", "--lam", "10", "--perturb", "original", "--loss", "wgan", "--n-critic", "5"],
    "dragan-improved": ["dragan.py", "--lam", "10", "--perturb", "improved", "--loss", "wgan", "--n-critic", "5"],
    "slogan": ["slogan.py", "--lam", "10", "--variant", "1"],
}
# the Lernapparat notebook's setting (--schedule blog: RMSprop 5e-5, 10 critic steps, 100 at first and every 500th,
# LeakyReLU(0.01) 3 x 512 MLPs, lambda 10); its DRAGAN variants use the WGAN critic objective
BLOG_ARMS = {
    "wgangp": ["wgangp.py", "--schedule", "blog"],
    "wgangp-one-sided": ["wgangp.py", "--schedule", "blog", "--one-sided"],
    "dragan-improved": ["dragan.py", "--schedule", "blog", "--perturb", "improved", "--loss", "wgan"],
    "slogan": ["slogan.py", "--schedule", "blog", "--variant", "1"],
}
ADVAS_ARMS = {f"{name}-ncritic{n}": ["advas.py", "--n-critic", str(n)] + ([] if name == "advas" else ["--no-advas"])
              for name in ("wgangp", "advas") for n in (1, 2, 5)}


def run_one(command, log_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log_path, "w") as log:
        return subprocess.run([sys.executable, *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode


def read(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def summarise(out, arms, datasets, seeds, metric_names):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = []
    for dataset in datasets:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for colour, arm in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], arms):
            finals = collections.defaultdict(list)
            for seed in seeds:
                run_dir = os.path.join(out, f"{arm}__{dataset}__seed{seed}")
                if not os.path.exists(os.path.join(run_dir, "metrics.csv")):
                    continue
                history = read(run_dir)
                for ax, x in zip(axes, ("iteration", "seconds")):
                    ax.plot([float(r[x]) for r in history], [float(r["w1"]) for r in history], color=colour,
                            alpha=0.8, lw=1, label=arm if seed == seeds[0] else None)
                for name in metric_names:
                    if name in history[-1]:
                        finals[name].append(float(history[-1][name]))
                finals["s/1k it (with eval)"].append(1000 * float(history[-1]["seconds"]) / float(history[-1]["iteration"]))
            if finals:
                cells = [f"{np.mean(v):.3f} ± {np.std(v):.3f}" if k != "modes" else f"{np.mean(v):.1f} ± {np.std(v):.1f}"
                         for k, v in finals.items()]
                rows.append((dataset, arm, len(finals["w1"]), list(finals), cells))
        for ax, x in zip(axes, ("iterations", "wall-clock seconds (1 CPU thread)")):
            ax.set_xlabel(x)
            ax.set_ylabel("W1 to the data (lower is better)")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        axes[0].set_title(dataset)
        fig.tight_layout()
        fig.savefig(os.path.join(ROOT, "docs", f"{os.path.basename(out)}_{dataset}_w1.png"), dpi=100)
        plt.close(fig)
        level_sets(out, arms, dataset, seeds[0])
    for dataset, arm, n, names, cells in rows:
        if arm == arms[0]:
            print(f"\n{dataset}\n| arm | seeds | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
        print(f"| {arm} | {n} | " + " | ".join(cells) + " |")


def level_sets(out, arms, dataset, seed):
    """The last level-set picture of each arm (one seed) side by side."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(arms), figsize=(3 * len(arms), 3.2))
    for ax, arm in zip(axes, arms):
        run_dir = os.path.join(out, f"{arm}__{dataset}__seed{seed}")
        pictures = sorted(f for f in os.listdir(run_dir) if f.startswith("toy_")) if os.path.isdir(run_dir) else []
        if pictures:
            ax.imshow(mpimg.imread(os.path.join(run_dir, pictures[-1])))
        ax.set_title(arm, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(ROOT, "docs", f"{os.path.basename(out)}_{dataset}_levels.png"), dpi=70)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", choices=("penalties", "blog", "advas"))
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--width", type=int, default=128, help="MLP width (the paper code: 512; 128 fits a CPU)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--datasets", default=None, help="comma-separated (default: swissroll,25gaussians; advas 25gaussians)")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    arms = {"penalties": PENALTY_ARMS, "blog": BLOG_ARMS, "advas": ADVAS_ARMS}[args.study]
    datasets = tuple(args.datasets.split(",")) if args.datasets else \
        ("25gaussians",) if args.study == "advas" else ("swissroll", "25gaussians")
    seeds = list(range(1, args.seeds + 1))
    out = os.path.join(ROOT, "runs", f"study_{args.study}")
    os.makedirs(out, exist_ok=True)
    os.makedirs(os.path.join(ROOT, "docs"), exist_ok=True)
    if not args.summary_only:
        jobs = []
        for seed in seeds:
            for dataset in datasets:
                for arm, (script, *flags) in arms.items():
                    name = f"{arm}__{dataset}__seed{seed}"
                    if os.path.exists(os.path.join(out, name)):
                        continue  # finished earlier (delete the folder to redo it)
                    command = [script, *flags, "--dataset", dataset, "--seed", str(seed), "--iters", str(args.iters),
                               "--width", str(args.width), "--eval-every", str(max(1, args.iters // 10)),
                               "--runs-dir", out, "--run-name", name]
                    jobs.append((command, os.path.join(out, name + ".log")))
        with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
            for (command, _), code in zip(jobs, pool.map(lambda job: run_one(*job), jobs)):
                print(("ok " if code == 0 else f"FAILED ({code}) ") + " ".join(command), flush=True)
    summarise(out, list(arms), datasets, seeds, ["w1", "modes", "high_quality"])


if __name__ == "__main__":
    main()
