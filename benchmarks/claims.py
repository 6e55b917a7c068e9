"""The claims ledger's runs (docs/claims.md): each claim that fits a CPU, in miniature, 3 seeds, the scripts themselves.

    python benchmarks/claims.py surfaces      # WGAN-GP Figure 1(a): critics of a fixed "generator" (real + N(0, 1))
    python benchmarks/claims.py gradients     # WGAN-GP Figure 1(b): 12-layer critics, per-layer gradients, weights
    python benchmarks/claims.py loss          # WGAN-GP: the negative critic loss tracks sample quality (toy W1)
    python benchmarks/claims.py modes         # DRAGAN: a GAN without the penalty drops modes, DRAGAN keeps them
    python benchmarks/claims.py fogan-text    # FOGAN Figure 2: JSD per iteration and per wall-clock vs WGAN-GP
    python benchmarks/claims.py fogan-images  # FOGAN Table 2 in miniature: fd_digits vs WGAN-GP (TTUR)
    python benchmarks/claims.py advas-digits  # AdvAs's MNIST claim in miniature: fd_digits vs n_critic baselines
    python benchmarks/claims.py all --summary-only    # figures and tables again from the runs already there

Each part trains the method scripts (one thread a run, `--workers` at a time, seeds 1-3), writes its figure to
docs/claims_<part>.png and prints a markdown table. Runs go to runs/claims/<part>/<arm>__<data>__seed<k>/; a run
folder already there is kept (delete it to redo it). `--smoke`: every run at a tiny size, to check that it runs.
"""
import argparse
import concurrent.futures
import csv
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TOYS = ("8gaussians", "25gaussians", "swissroll")
# part -> arms: name -> script and flags. Each arm runs its script's toy setting unless a flag says otherwise.
PARTS = {
    # Figure 1(a): gan_toy.py with FIXED_GENERATOR; the clipped critic at c = 0.01 vs the penalty (gan_toy.py's
    # lambda 0.1); 1,000 iterations x 5 critic steps, nothing else learns
    "surfaces": ({"clipping": ["wgangp.py", "--mode", "wgan", "--fixed-generator"],
                  "penalty": ["wgangp.py", "--fixed-generator"]}, TOYS, ["--iters", "1000", "--eval-every", "1000"]),
    # Figure 1(b): 12-layer ReLU critics (no batch norm) on the swiss roll, fixed generator, clipping at three
    # bounds vs the penalty; 100 iterations x 5 critic steps
    "gradients": ({"clip 0.1": ["wgangp.py", "--mode", "wgan", "--clip", "0.1"],
                   "clip 0.01": ["wgangp.py", "--mode", "wgan", "--clip", "0.01"],
                   "clip 0.001": ["wgangp.py", "--mode", "wgan", "--clip", "0.001"],
                   "penalty": ["wgangp.py"]}, ("swissroll",),
                  ["--fixed-generator", "--depth", "12", "--iters", "100", "--eval-every", "100"]),
    # the critic's negative loss against the exact W1 of the samples, over one run's evaluations
    "loss": ({"WGAN-GP": ["wgangp.py"], "WGAN (clipping)": ["wgangp.py", "--mode", "wgan"]}, ("swissroll",),
             ["--iters", "600", "--eval-every", "50"]),
    # DRAGAN's paper: the standard GAN objective, one critic step, with and without the penalty (lambda 10 / 0)
    "modes": ({"GAN (lambda 0)": ["dragan.py", "--loss", "gan", "--n-critic", "1", "--lam", "0"],
               "DRAGAN (lambda 10)": ["dragan.py", "--loss", "gan", "--n-critic", "1"]},
              ("8gaussians", "25gaussians"), ["--iters", "2000", "--eval-every", "250"]),
    # FOGAN's Figure 2 in miniature: the text nets at width 64 (no-flag setting), the paper's WGAN-GP baseline
    "fogan-text": ({"FOGAN": ["fogan_text.py"], "WGAN-GP": ["wgangp.py"]}, ("text",),
                   ["--iters", "600", "--eval-every", "100"]),
    # FOGAN's Table 2 in miniature: fogan_celeba.py's digits setting (MNIST nets, width 32) against WGAN-GP with
    # the TTUR settings of FOGAN's CelebA baseline (one critic step, lr 3e-4 / 1e-4, beta1 0) on the same nets
    "fogan-images": ({"FOGAN": ["fogan_celeba.py"],
                      "WGAN-GP (TTUR)": ["wgangp.py", "--width", "32", "--n-critic", "1", "--lr-critic", "3e-4",
                                         "--lr-generator", "1e-4", "--beta1", "0"]}, ("digits",),
                     ["--iters", "800", "--eval-every", "100", "--eval-samples", "1000"]),
    # AdvAs's MNIST claim in miniature: the digits setting of advas.py (width 16); AdvAs at one critic step against
    # WGAN-GP at one and at five (the paper's baselines vary n_adv)
    "advas-digits": ({"WGAN-GP, 5 critic steps": ["advas.py", "--no-advas", "--n-critic", "5"],
                      "WGAN-GP, 1 critic step": ["advas.py", "--no-advas", "--n-critic", "1"],
                      "AdvAs, 1 critic step": ["advas.py", "--n-critic", "1"]}, ("digits",),
                     ["--iters", "400", "--eval-every", "50"]),
}
CURVES = {"fogan-text": "js4", "fogan-images": "fd_digits", "advas-digits": "fd_digits"}  # lower is better
SMOKE = ["--iters", "2", "--eval-every", "1", "--width", "16", "--batch-size", "16", "--eval-samples", "100"]


def folder(out, part, arm, dataset, seed):
    return os.path.join(out, part, f"{arm.replace(' ', '_')}__{dataset}__seed{seed}")


def run_one(command, log_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log_path, "w") as log:
        return subprocess.run([sys.executable, *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode


def train(out, parts, seeds, workers, smoke):
    jobs = []
    for part in parts:
        arms, datasets, flags = PARTS[part]
        for seed in seeds:
            for dataset in datasets:
                for arm, (script, *arm_flags) in arms.items():
                    run_dir = folder(out, part, arm, dataset, seed)
                    if os.path.exists(run_dir):
                        continue
                    os.makedirs(os.path.dirname(run_dir), exist_ok=True)
                    size = [*flags, *SMOKE] if smoke else flags  # later flags win
                    jobs.append(([script, *arm_flags, *size, "--dataset", dataset, "--seed", str(seed), "--runs-dir",
                                  os.path.dirname(run_dir), "--run-name", os.path.basename(run_dir)], run_dir + ".log"))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for (command, log), code in zip(jobs, pool.map(lambda job: run_one(*job), jobs)):
            print(("ok " if code == 0 else f"FAILED ({code}, see {log}) ") + " ".join(command), flush=True)
            if code:
                sys.exit(f"error: a run failed: {log}")


def rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def load_critic(run_dir):
    """The run's critic (the toy MLP of its args.json) with the checkpoint's weights, on the CPU."""
    import torch
    import common
    with open(os.path.join(run_dir, "args.json")) as f:
        args = json.load(f)
    data = common.make_data(args["dataset"], None, 2, torch.device("cpu"), 0)
    _, critic, _ = common.make_nets(data, width=args["width"], arch=args["arch"], depth=args.get("depth"))
    critic.load_state_dict(torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)["critic"])
    return critic.eval(), data, args


def surface_scores(run_dir, n=2000):
    """How near the critic is to an optimal 1-Lipschitz critic between real points and real + N(0, 1): its
    estimate E f(real) - E f(fake), divided by its largest input-gradient norm over real, fake and interpolated
    points (the estimate of the critic rescaled to be 1-Lipschitz there), over the exact W1 of the two clouds
    (Kantorovich-Rubinstein: an optimal critic gives 1, a critic blind to the data's shape gives less)."""
    import torch
    import common
    critic, data, _ = load_critic(run_dir)
    real = torch.as_tensor(data.real_sample(n, seed=7), dtype=torch.float32)
    fake = torch.as_tensor(data.real_sample(n, seed=8), dtype=torch.float32) + torch.randn(n, 2,
                                                                                          generator=torch.Generator().manual_seed(9))
    between = real + torch.rand(n, 1, generator=torch.Generator().manual_seed(10)) * (fake - real)
    points = torch.cat([real, fake, between]).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(points).sum(), points)
    with torch.no_grad():
        estimate = (critic(real).mean() - critic(fake).mean()).item()
    w1 = common.toy_scores(fake.numpy(), data.dataset, real.numpy())["w1"]
    return estimate / grad.norm(dim=1).max().item() / w1


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, figures, name, dpi=80):
    fig.tight_layout()
    fig.savefig(os.path.join(figures, name), dpi=dpi)
    pyplot().close(fig)


def mean_spread(values, digits=3, kind="f"):
    return f"{np.mean(values):.{digits}{kind}} ± {np.std(values):.{digits}{kind}}" if values else "-"


def summary_surfaces(out, seeds, figures):
    plt = pyplot()
    import torch
    arms, datasets, _ = PARTS["surfaces"]
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.6))
    print("\n| Figure 1(a): critic vs an optimal one (1 = optimal) | " + " | ".join(datasets) + " |\n|---|---|---|---|")
    for row, arm in enumerate(arms):
        cells = []
        for column, dataset in enumerate(datasets):
            runs = [folder(out, "surfaces", arm, dataset, s) for s in seeds]
            runs = [r for r in runs if os.path.exists(os.path.join(r, "checkpoint.pt"))]
            cells.append(mean_spread([surface_scores(r) for r in runs]) + f" ({len(runs)} seeds)")
            if not runs:
                continue
            critic, data, _ = load_critic(runs[0])
            grid = np.linspace(-3, 3, 160)
            xx, yy = np.meshgrid(grid, grid)
            with torch.no_grad():
                values = critic(torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32))
            ax = axes[row, column]
            ax.contourf(xx, yy, values.numpy().reshape(xx.shape), levels=20, cmap="viridis")
            real = data.real_sample(1000)
            ax.scatter(real[:, 0], real[:, 1], s=1, c="orange")
            ax.set_title(f"{arm}: {dataset}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        print(f"| {arm} | " + " | ".join(cells) + " |")
    fig.suptitle("Value surfaces of critics trained against real + N(0, 1) (seed 1); real points in orange", fontsize=10)
    save_figure(fig, figures, "claims_surfaces.png")


def layer_gradients(run_dir, n=1024):
    """The norm of the gradient of E f(fake) - E f(real) with respect to each hidden layer's activations (after its
    ReLU), on fresh real points and real + N(0, 1); and the critic's weight matrices' entries."""
    import torch
    critic, data, _ = load_critic(run_dir)
    real = torch.as_tensor(data.real_sample(n, seed=7), dtype=torch.float32)
    fake = real + torch.randn(n, 2, generator=torch.Generator().manual_seed(9))
    activations = []

    def keep(module, inputs, output):
        output.retain_grad()
        activations.append(output)
    hooks = [m.register_forward_hook(keep) for m in critic.modules() if isinstance(m, torch.nn.ReLU)]
    loss = critic(fake).mean() - critic(real).mean()
    loss.backward()
    for hook in hooks:
        hook.remove()
    depth = len(activations) // 2  # the fake pass's layers, then the real pass's
    norms = [(activations[k].grad.norm() + activations[k + depth].grad.norm()).item() for k in range(depth)]
    weights = torch.cat([p.detach().flatten() for name, p in critic.named_parameters() if p.dim() == 2])
    return norms, weights.numpy()


def summary_gradients(out, seeds, figures):
    plt = pyplot()
    arms, _, _ = PARTS["gradients"]
    fig, (left, *hist) = plt.subplots(1, 3, figsize=(13, 3.8))
    zeros = []
    print("\n| Figure 1(b): 12-layer critic | gradient norm at layer 1 | at layer 12 | ratio 1/12 | weights at the bound |"
          "\n|---|---|---|---|---|")
    for arm in arms:
        runs = [folder(out, "gradients", arm, "swissroll", s) for s in seeds]
        runs = [r for r in runs if os.path.exists(os.path.join(r, "checkpoint.pt"))]
        if not runs:
            continue
        results = [layer_gradients(r) for r in runs]
        norms = np.array([r[0] for r in results])
        layers = np.arange(1, norms.shape[1] + 1)
        with np.errstate(divide="ignore"):  # a norm of 0 (float32 underflow at clip 0.001) is left off the log axis
            left.plot(layers, np.exp(np.log(norms).mean(0)), marker="o", label=arm)
        c = float(arm.split()[-1]) if arm.startswith("clip") else None
        at_bound = [np.mean(np.abs(w) >= np.float32(c)) for _, w in results] if c else []
        print(f"| {arm} | {mean_spread(list(norms[:, 0]), 2, 'e')} | {mean_spread(list(norms[:, -1]), 2, 'e')} | "
              f"{mean_spread(list(norms[:, 0] / norms[:, -1]), 2, 'e')} | {mean_spread(at_bound, 3) if c else '-'} |")
        zeros += [arm] if (norms == 0).any() else []
        if arm in ("clip 0.01", "penalty"):
            ax = hist[arm == "penalty"]
            ax.hist(results[0][1], bins=100, color="grey")
            ax.set_title(f"critic weights, {arm} (seed 1)", fontsize=9)
            ax.set_yscale("log")
    if zeros:
        print(f"\n({', '.join(zeros)}: some layers' gradient norms are exactly 0, below float32's smallest number)")
    left.set_yscale("log")
    left.set_xlabel("critic layer (1 = next to the input)")
    left.set_ylabel("gradient norm (log scale)")
    left.set_title("d(critic loss)/d(activations), mean of 3 seeds (geometric)", fontsize=9)
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    save_figure(fig, figures, "claims_gradients.png")


def summary_loss(out, seeds, figures):
    plt = pyplot()
    from scipy.stats import pearsonr, spearmanr
    arms, _, _ = PARTS["loss"]
    fig, axes = plt.subplots(1, len(arms), figsize=(10, 3.8))
    print("\n| the negative critic loss tracks W1 | Pearson r | Spearman rho | seeds |\n|---|---|---|---|")
    for ax, arm in zip(axes, arms):
        pearson, spearman = [], []
        for seed in seeds:
            run = folder(out, "loss", arm, "swissroll", seed)
            if not os.path.exists(os.path.join(run, "metrics.csv")):
                continue
            history = rows(run)
            negative_loss = np.array([-float(r["critic_loss"]) for r in history])
            w1 = np.array([float(r["w1"]) for r in history])
            if len(w1) > 2:
                pearson.append(pearsonr(negative_loss, w1)[0])
                spearman.append(spearmanr(negative_loss, w1)[0])
            ax.scatter(w1, negative_loss, s=10, label=f"seed {seed}")
        print(f"| {arm} | {mean_spread(pearson, 2)} | {mean_spread(spearman, 2)} | {len(pearson)} |")
        ax.set_xlabel("W1 of 1,000 samples to the data (exact)")
        ax.set_ylabel("negative critic loss")
        ax.set_title(f"{arm}, swiss roll, every 50 iterations", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    save_figure(fig, figures, "claims_loss.png")


def summary_modes(out, seeds, figures):
    import matplotlib.image as mpimg
    plt = pyplot()
    arms, datasets, _ = PARTS["modes"]
    fig, axes = plt.subplots(1, len(arms) * len(datasets), figsize=(4 * len(arms) * len(datasets), 4.2))
    print("\n| DRAGAN: modes kept (final) | " + " | ".join(f"{d}: modes | high quality | W1" for d in datasets) +
          " |\n|---|" + "---|---|---|" * len(datasets))
    for row, arm in enumerate(arms):
        cells = []
        for column, dataset in enumerate(datasets):
            finals, quality, w1 = [], [], []
            for seed in seeds:
                run = folder(out, "modes", arm, dataset, seed)
                if not os.path.exists(os.path.join(run, "metrics.csv")):
                    continue
                history = rows(run)
                finals.append(float(history[-1]["modes"]))
                quality.append(float(history[-1]["high_quality"]))
                w1.append(float(history[-1]["w1"]))
            cells += [mean_spread(finals, 1) + f" ({len(finals)} seeds)", mean_spread(quality, 2), mean_spread(w1)]
            run = folder(out, "modes", arm, dataset, seeds[0])  # the last picture of the first seed
            pictures = sorted(f for f in os.listdir(run) if f.startswith("toy_")) if os.path.isdir(run) else []
            ax = axes[column * len(arms) + row]
            if pictures:
                ax.imshow(mpimg.imread(os.path.join(run, pictures[-1])))
            ax.set_title(f"{arm}, {dataset}", fontsize=10)
            ax.axis("off")
        print(f"| {arm} | " + " | ".join(cells) + " |")
    save_figure(fig, figures, "claims_modes.png", dpi=70)


def summary_curves(part, out, seeds, figures):
    """One metric against iterations and wall-clock for each arm; the table: final and best (mean ± std over the
    seeds), seconds per 1,000 iterations, and the metric at the wall-clock where the fastest arm's runs end."""
    plt = pyplot()
    arms, (dataset,), _ = PARTS[part]
    metric = CURVES[part]
    histories = {arm: [rows(r) for r in (folder(out, part, arm, dataset, s) for s in seeds)
                       if os.path.exists(os.path.join(r, "metrics.csv"))] for arm in arms}
    histories = {arm: [h for h in runs if h and metric in h[-1]] for arm, runs in histories.items()}
    ends = [float(h[-1]["seconds"]) for runs in histories.values() for h in runs]
    budget = min(ends) if ends else 0.0
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    floor = [f"{k} {v}" for k, v in next((h[-1] for runs in histories.values() for h in runs), {}).items()
             if k.startswith(metric + "_") and k.endswith(("_bayes", "_floor"))]
    print(f"\n| {part}: {metric} (lower is better) | final | best | at {budget:.0f} s | s / 1k it. | seeds |"
          "\n|---|---|---|---|---|---|")
    for colour, (arm, runs) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], histories.items()):
        finals = [float(h[-1][metric]) for h in runs]
        bests = [min(float(r[metric]) for r in h) for h in runs]
        at_budget = [float([r for r in h if float(r["seconds"]) <= budget][-1][metric]) for h in runs
                     if float(h[0]["seconds"]) <= budget]
        speed = [1000 * float(h[-1]["seconds"]) / float(h[-1]["iteration"]) for h in runs]
        print(f"| {arm} | {mean_spread(finals)} | {mean_spread(bests)} | {mean_spread(at_budget)} | "
              f"{mean_spread(speed, 1)} | {len(runs)} |")
        for k, h in enumerate(runs):
            for ax, x in zip(axes, ("iteration", "seconds")):
                ax.plot([float(r[x]) for r in h], [float(r[metric]) for r in h], color=colour, alpha=0.8, lw=1,
                        marker=".", label=arm if k == 0 else None)
    if floor:
        print(f"\n({', '.join(floor)})")
    for ax, x in zip(axes, ("iterations", "wall-clock seconds (1 CPU thread, two runs side by side)")):
        for line in floor:  # the floor the metric can reach: the Bayes limit, held-out real digits
            ax.axhline(float(line.split()[-1]), color="k", ls="--", lw=1, label=line.split()[0] if ax is axes[0] else None)
        ax.set_xlabel(x)
        ax.set_ylabel(f"{metric} (lower is better)")
        ax.set_yscale("log" if metric.startswith("fd_") else "linear")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"{part}: {dataset}, every seed drawn", fontsize=9)
    save_figure(fig, figures, f"claims_{part}.png")


SUMMARIES = {"surfaces": summary_surfaces, "gradients": summary_gradients, "loss": summary_loss,
             "modes": summary_modes}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="+", choices=(*PARTS, "all"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "claims"))
    parser.add_argument("--figures", default=os.path.join(ROOT, "docs"))
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a tiny size of every run, to check that it runs")
    args = parser.parse_args(argv)
    parts = list(PARTS) if "all" in args.parts else args.parts
    seeds = list(range(1, args.seeds + 1))
    if not args.summary_only:
        train(args.out, parts, seeds, args.workers, args.smoke)
    os.makedirs(args.figures, exist_ok=True)
    for part in parts:
        if part in CURVES:
            summary_curves(part, args.out, seeds, args.figures)
        else:
            SUMMARIES[part](args.out, seeds, args.figures)


if __name__ == "__main__":
    main()
