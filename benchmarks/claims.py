"""The claims ledger's runs (docs/claims.md): each claim of the seeds that fits a CPU, in miniature, several seeds,
run with the method scripts themselves; verdicts computed from the per-seed numbers by one stated rule.

    python benchmarks/claims.py PART [PART ...] [--iters N] [--seeds K] [--datasets D,D]   # train, then summarise
    python benchmarks/claims.py all --summary-only      # tables, verdicts, figures again from docs/claims/*.csv
    python benchmarks/claims.py --help                  # the parts, their sizes and times

Every run is `python SCRIPT FLAGS --seed K` with one thread, `--workers` at a time. A run's folder,
runs/claims/<part>/<arm>__<data>__seed<k>__<key>/, carries a key of its exact flags, so a run of other settings is
never reused; a finished run of the same settings is, an interrupted one is resumed (`--resume`). Each part's
per-seed numbers go to docs/claims/<part>.csv (its command and wall-clock to <part>.json), and the tables and
verdicts between the `<!-- ledger:... -->` markers of docs/claims.md are rewritten from them. `--smoke`: every run
at a tiny size into runs/claims-smoke/, its numbers and figures there too, never into docs/.
"""
import argparse
import concurrent.futures
import csv
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TOYS = ("8gaussians", "25gaussians", "swissroll")
ALPHA = 0.05  # the verdict rule's significance level (two-sided Welch test)


class Part:
    """arms: name -> script and its flags; datasets; flags every arm gets (--iters and --eval-every first);
    seeds: how many by default; minutes: wall-clock at the default size on 2 cores, two runs side by side."""

    def __init__(self, arms, datasets, iters, eval_every, flags=(), seeds=3, minutes=None, what=""):
        self.arms, self.datasets, self.iters, self.eval_every = arms, datasets, iters, eval_every
        self.flags, self.seeds, self.minutes, self.what = list(flags), seeds, minutes, what


PARTS = {
    "surfaces": Part({"clipping": ["wgangp.py", "--mode", "wgan", "--fixed-generator"],
                      "penalty": ["wgangp.py", "--fixed-generator"]}, TOYS, 1000, 1000, seeds=3, minutes=40,
                     what="WGAN-GP Figure 1(a): critics of a fixed generator (real + N(0, 1)), clipping vs penalty"),
    "gradients": Part({"clip 0.1": ["wgangp.py", "--mode", "wgan", "--clip", "0.1"],
                       "clip 0.01": ["wgangp.py", "--mode", "wgan", "--clip", "0.01"],
                       "clip 0.001": ["wgangp.py", "--mode", "wgan", "--clip", "0.001"],
                       "penalty": ["wgangp.py"]}, ("swissroll",), 100, 100, ["--fixed-generator", "--depth", "12"],
                      seeds=3, minutes=6, what="WGAN-GP Figure 1(b): 12-layer critics, per-layer gradients, weights"),
    "loss": Part({"WGAN-GP": ["wgangp.py"], "WGAN (clipping)": ["wgangp.py", "--mode", "wgan"]}, ("swissroll",),
                 5000, 100, seeds=3, minutes=50,
                 what="WGAN-GP 5.6 and Figure 3 (toy): the held-out negative critic loss against W1; final W1"),
    "modes": Part({"GAN (lambda 0)": ["dragan.py", "--loss", "gan", "--n-critic", "1", "--lam", "0"],
                   "DRAGAN (lambda 10)": ["dragan.py", "--loss", "gan", "--n-critic", "1"]},
                  ("8gaussians", "25gaussians"), 10000, 1000, seeds=3, minutes=50,
                  what="DRAGAN's toys: the standard GAN with and without DRAGAN's penalty, modes and W1"),
    "fogan-text": Part({"FOGAN": ["fogan_text.py"], "WGAN-GP": ["wgangp.py"]}, ("text",), 5000, 500, seeds=3,
                       minutes=55, what="FOGAN Figure 2: 4-gram JSD per iteration and per wall-clock vs WGAN-GP"),
    "fogan-images": Part({"FOGAN": ["fogan_celeba.py"],
                          "WGAN-GP (TTUR)": ["wgangp.py", "--width", "32", "--n-critic", "1", "--lr-critic", "3e-4",
                                             "--lr-generator", "1e-4", "--beta1", "0"]}, ("digits",), 3000, 250,
                         ["--eval-samples", "1000"], seeds=3, minutes=40,
                         what="FOGAN Table 2 in miniature: fd_digits vs WGAN-GP (TTUR), same nets"),
    "figure3-digits": Part({"WGAN-GP": ["wgangp.py"], "WGAN (clipping)": ["wgangp.py", "--mode", "wgan"]},
                           ("digits",), 5000, 250, seeds=3, minutes=50,
                           what="WGAN-GP Figure 3 on the digits: fd_digits per iteration and per second vs clipping"),
    "advas-digits": Part({"WGAN-GP, 5 critic steps": ["advas.py", "--no-advas", "--n-critic", "5"],
                          "WGAN-GP, 1 critic step": ["advas.py", "--no-advas", "--n-critic", "1"],
                          "AdvAs, 1 critic step": ["advas.py", "--n-critic", "1"]}, ("digits",), 5000, 250, seeds=3,
                         minutes=55, what="AdvAs's MNIST claim in miniature: best fd_digits vs n_critic baselines"),
}
CURVES = {"fogan-text": "js4", "fogan-images": "fd_digits", "figure3-digits": "fd_digits",
          "advas-digits": "fd_digits", "modes": "w1", "loss": "w1"}  # the metric drawn against time; lower is better
LOSS_WARMUP = 0.2  # the loss row correlates the evaluations after the first 20 % of the run (the critic's warm-up)
SMOKE = ["--iters", "2", "--eval-every", "1", "--width", "16", "--batch-size", "16", "--eval-samples", "100"]


# ---- the verdict rule ---------------------------------------------------------------------------------------------

RULE = (f"A comparison of two arms is a two-sided Welch t-test on the per-seed values (the spread shown is the "
        f"sample standard deviation, ddof 1). **holds**: the claimed direction is significant (p < {ALPHA}) and "
        f"the picture agrees; **does not hold**: the opposite direction is significant, or a margin stated before "
        f"the runs contains the whole 90 % confidence interval of the difference (the effect is shown smaller than "
        f"the margin); **undecided at this size**: anything else; **not testable here**: the claim needs a GPU, the "
        f"paper's data or a model no script here has (the row gives the command that would test it). A trend "
        f"claim (a correlation) is a one-sample t-test of the per-seed coefficients against 0.")


def welch(a, b):
    """(mean(a) - mean(b), two-sided p, the 90 % confidence interval of the difference) by Welch's t-test."""
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:  # no spread in either arm: the difference is exact
        return diff, (0.0 if diff else 1.0), (diff, diff)
    t = diff / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.95, df) * np.sqrt(va + vb)
    return diff, float(2 * stats.t.sf(abs(t), df)), (diff - half, diff + half)


def verdict(claimed, other, better="lower", margin=None, picture=True):
    """The rule on per-seed numbers: the claim says `claimed` is better (`better`: lower or higher) than `other`.
    Returns (verdict, p); p is None where a side has fewer than two seeds."""
    if len(claimed) < 2 or len(other) < 2:
        return "undecided at this size", None
    diff, p, (low, high) = welch(claimed, other)
    sign = -1 if better == "lower" else 1  # sign * diff > 0: the claimed direction
    if p < ALPHA and sign * diff > 0:
        return ("holds" if picture else "undecided at this size"), p
    if p < ALPHA:
        return "does not hold", p
    if margin is not None and -margin < low and high < margin:
        return "does not hold", p
    return "undecided at this size", p


def trend_verdict(coefficients, sign=1):
    """A claimed positive (sign 1) or negative (-1) correlation: a one-sample t-test of the per-seed coefficients."""
    from scipy import stats
    if len(coefficients) < 2:
        return "undecided at this size", None
    p = float(stats.ttest_1samp(coefficients, 0.0).pvalue)
    if p < ALPHA:
        return ("holds" if sign * np.mean(coefficients) > 0 else "does not hold"), p
    return "undecided at this size", p


# ---- runs -----------------------------------------------------------------------------------------------------------

def run_flags(part, arm, dataset, iters, eval_every, smoke):
    script, *arm_flags = PARTS[part].arms[arm]
    size = ["--iters", str(iters), "--eval-every", str(eval_every), *PARTS[part].flags]
    return script, [*arm_flags, *size, *(SMOKE if smoke else []), "--dataset", dataset]  # later flags win


def folder(out, part, arm, dataset, seed, flags):
    key = hashlib.sha1(" ".join(flags).encode()).hexdigest()[:8]
    slug = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in arm).strip("_")
    return os.path.join(out, part, f"{slug}__{dataset}__seed{seed}__{key}")


def finished(run_dir):
    """The run's last evaluation row is its last iteration."""
    try:
        with open(os.path.join(run_dir, "args.json")) as f:
            iters = json.load(f)["iters"]
        history = rows(run_dir)
    except (OSError, ValueError, KeyError):
        return False
    return bool(history) and int(history[-1]["iteration"]) >= iters


def rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv"), encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def die_with_parent():
    """In each child: SIGTERM when claims.py dies, even by kill -9 (Linux), so no run trains on as an orphan."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


CHILDREN = set()


def run_one(command, log_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log_path, "a") as log:
        child = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 preexec_fn=die_with_parent)
        CHILDREN.add(child)
        code = child.wait()
        CHILDREN.discard(child)
    return code


def plan(out, part, seeds, datasets, iters, eval_every, smoke):
    """(command, log) of each run still to do; a finished run of the same flags is kept, a stopped one resumed."""
    jobs = []
    for seed in seeds:
        for dataset in datasets:
            for arm in PARTS[part].arms:
                script, flags = run_flags(part, arm, dataset, iters, eval_every, smoke)
                run_dir = folder(out, part, arm, dataset, seed, [script, *flags])
                if finished(run_dir):
                    continue
                os.makedirs(os.path.dirname(run_dir), exist_ok=True)
                if os.path.exists(os.path.join(run_dir, "checkpoint.pt")):
                    command = [script, "--resume", run_dir]
                else:
                    command = [script, *flags, "--seed", str(seed), "--runs-dir", os.path.dirname(run_dir),
                               "--run-name", os.path.basename(run_dir)]
                jobs.append((command, run_dir + ".log"))
    return jobs


def train(jobs, workers):
    """Runs the jobs, `workers` at a time. Ctrl-C / SIGTERM: every run saves its checkpoint and stops; the same
    command resumes them."""
    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    futures = {pool.submit(run_one, *job): job for job in jobs}
    try:
        for future in concurrent.futures.as_completed(futures):
            (command, log), code = futures[future], future.result()
            print(("ok " if code == 0 else f"FAILED ({code}, see {log}) ") + " ".join(command), flush=True)
            if code:
                for f in futures:
                    f.cancel()
                for child in list(CHILDREN):
                    child.terminate()
                pool.shutdown(wait=True)
                print(f"error: a run failed: {log}", file=sys.stderr)
                sys.exit(1)
    except KeyboardInterrupt:
        for f in futures:
            f.cancel()
        for child in list(CHILDREN):
            child.send_signal(signal.SIGTERM)  # each writes its checkpoint and exits
        pool.shutdown(wait=True)
        print("stopped: the runs saved their checkpoints; the same command resumes them", file=sys.stderr)
        sys.exit(130)
    pool.shutdown(wait=True)


# ---- per-seed numbers: docs/claims/<part>.csv -----------------------------------------------------------------------

COLUMNS = ("arm", "dataset", "seed", "iteration", "quantity", "value")


def write_atomically(path, write, mode="w"):
    """Writes through a uniquely named temporary file beside `path`, then renames it: a kill leaves the old file."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=os.path.basename(path) + ".")
    try:
        with os.fdopen(handle, mode) as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {model}, torch {__import__('torch').__version__}"


def save_numbers(path, records, datasets, meta):
    """The part's CSV with the records of `datasets` replaced (other datasets' rows kept), and in <part>.json the
    command, size, machine and wall-clock of each dataset's runs."""
    kept = []
    if os.path.exists(path):
        with open(path, encoding="utf-8-sig") as f:
            kept = [tuple(r[c] for c in COLUMNS) for r in csv.DictReader(f) if r["dataset"] not in datasets]

    def write(f):
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(kept + list(records))
    write_atomically(path, write)
    meta_path = path[:-4] + ".json"
    metas = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    metas.update({d: meta for d in datasets})
    write_atomically(meta_path, lambda f: f.write(json.dumps(metas, indent=1) + "\n"))


def load_numbers(path):
    """{(arm, dataset, quantity): {seed: [(iteration, value), ...]}} from a part's CSV."""
    table = {}
    if not os.path.exists(path):
        return table
    with open(path, encoding="utf-8-sig") as f:
        for r in csv.DictReader(f):
            table.setdefault((r["arm"], r["dataset"], r["quantity"]), {}).setdefault(int(r["seed"]), []).append(
                (int(r["iteration"]), float(r["value"])))
    return table


def final(table, arm, dataset, quantity, how="last"):
    """Per-seed values: the last (or the min / max over evaluations) of a quantity, seeds in order."""
    pick = {"last": lambda v: v[-1][1], "min": lambda v: min(x for _, x in v), "max": lambda v: max(x for _, x in v)}
    return [pick[how](v) for _, v in sorted(table.get((arm, dataset, quantity), {}).items())]


def collect(part, out, seeds, datasets, iters, eval_every, smoke):
    """Each finished run's numbers as CSV records: every evaluation's metrics, and what the part scores from the
    run's checkpoint. Returns (records, seeds found per arm and dataset)."""
    records, found = [], {}
    for dataset in datasets:
        for arm in PARTS[part].arms:
            script, flags = run_flags(part, arm, dataset, iters, eval_every, smoke)
            for seed in seeds:
                run_dir = folder(out, part, arm, dataset, seed, [script, *flags])
                if not finished(run_dir):
                    continue
                found.setdefault((arm, dataset), []).append(seed)
                for r in rows(run_dir):
                    for quantity, value in r.items():
                        if quantity != "iteration" and value not in ("", None):
                            records.append((arm, dataset, seed, int(r["iteration"]), quantity, value))
                for quantity, value in SCORES.get(part, lambda d: {})(run_dir).items():
                    records.append((arm, dataset, seed, iters, quantity, repr(float(value))))
    return records, found


# ---- what a part scores from its runs' checkpoints ------------------------------------------------------------------

def load_critic(run_dir, initial=False):
    """The run's critic with the checkpoint's weights (or, initial: the weights the run started from), on the CPU."""
    import torch
    import common
    with open(os.path.join(run_dir, "args.json")) as f:
        args = json.load(f)
    data = common.make_data(args["dataset"], None, 2, torch.device("cpu"), 0)
    common.seed_everything(args["seed"])  # as the script: the same seed before the nets are made
    _, critic, _ = common.make_nets(data, width=args["width"], arch=args["arch"], depth=args.get("depth"))
    if not initial:
        critic.load_state_dict(torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)["critic"])
    return critic.eval(), data, args


def fixed_generator_clouds(data, n=2000):
    """The Figure 1(a) setting's two clouds, fixed: real points and real + N(0, 1) (other real points)."""
    import torch
    real = torch.as_tensor(data.real_sample(n, seed=7), dtype=torch.float32)
    fake = torch.as_tensor(data.real_sample(n, seed=8), dtype=torch.float32) + torch.randn(
        n, 2, generator=torch.Generator().manual_seed(9))
    return real, fake


def critic_scores(critic, real, fake):
    """Two measures of how near a critic f is to an optimal 1-Lipschitz critic between `real` and `fake`:
    `optimality`: (E f(real) - E f(fake)) / max ||grad f|| (real, fake and points between) / the exact W1 (1 = optimal;
    the critic's W1 estimate once rescaled to be 1-Lipschitz there), and
    `prop1`: the mean cosine between grad f at points on the segments of the exact optimal coupling and the unit
    direction from the generated point to its real partner (the FOGAN seed's Proposition 1 for WGAN-GP's optimal
    critic: 1 = optimal). `critic` maps (n, 2) float tensors to n scores."""
    import torch
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist
    cost = cdist(fake.numpy(), real.numpy())
    rows_, cols = linear_sum_assignment(cost)
    partner = real[cols[np.argsort(rows_)]]  # fake i's partner in the optimal coupling
    w1 = cost[rows_, cols].mean()
    t = torch.rand(len(fake), 1, generator=torch.Generator().manual_seed(10))
    on_segments = fake + t * (partner - fake)
    points = torch.cat([real, fake, on_segments]).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(points).sum(), points)
    with torch.no_grad():
        gap = (critic(real).mean() - critic(fake).mean()).item()
    direction = partner - fake
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    g = grad[2 * len(fake):]
    cosine = (g * direction).sum(1) / g.norm(dim=1).clamp_min(1e-12)
    return {"optimality": gap / grad.norm(dim=1).max().item() / w1, "prop1": cosine.mean().item()}


def reference_critics(data):
    """1-Lipschitz critics that ignore the data and that follow it: the cone -||x|| and minus the distance to the
    nearest of 2,000 real points (which an optimal critic between data and a cloud around it resembles)."""
    import torch
    anchors = torch.as_tensor(data.real_sample(2000, seed=11), dtype=torch.float32)
    return {"cone -||x||": lambda x: -x.norm(dim=1),
            "minus the distance to the data": lambda x: -torch.cdist(x, anchors).min(1).values}


def surface_scores(run_dir):
    critic, data, _ = load_critic(run_dir)
    return critic_scores(lambda x: critic(x).reshape(len(x)), *fixed_generator_clouds(data))


def layer_gradients(critic, data, n=1024):
    """In float64: the norm of the gradient of E f(fake) - E f(real) with respect to each hidden layer's activations
    (after its ReLU), on fresh real points and real + N(0, 1); the hidden-to-hidden weight matrices' entries."""
    import torch
    critic = critic.double()
    real = torch.as_tensor(data.real_sample(n, seed=7), dtype=torch.float64)
    fake = real + torch.randn(n, 2, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
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
    matrices = [p.detach() for p in critic.parameters() if p.dim() == 2]
    deep = torch.cat([w.flatten() for w in matrices[1:-1]])  # hidden to hidden: not the input or output layer
    everything = torch.cat([p.detach().flatten() for p in critic.parameters()])
    return norms, deep.numpy(), everything.numpy()


def clip_bound(arm):
    return float(arm.split()[-1]) if arm.startswith("clip") else None


def gradient_scores(run_dir, initial=False):
    import torch
    critic, data, args = load_critic(run_dir, initial)
    c = args.get("clip") if args.get("mode") == "wgan" else None
    if initial and c:
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-c, c)  # the clipped initialisation: what one clip does before any training
    norms, _, everything = layer_gradients(critic, data)
    scores = {f"grad_layer{k + 1}": v for k, v in enumerate(norms)}
    if c:
        scores["at_bound"] = float(np.mean(np.abs(everything) >= np.float32(c) * (1 - 1e-6)))
    return scores


def gradient_scores_with_control(run_dir):
    trained = gradient_scores(run_dir)
    return {**trained, **{f"step0_{k}": v for k, v in gradient_scores(run_dir, initial=True).items()}}


def loss_scores(run_dir):
    """Pearson and Spearman correlation, over the evaluations after the warm-up, of the held-out negative critic
    loss (`w_distance_heldout`) with the exact W1 of the samples."""
    from scipy.stats import pearsonr, spearmanr
    history = rows(run_dir)
    history = history[int(len(history) * LOSS_WARMUP):]
    negative_loss = np.array([float(r["w_distance_heldout"]) for r in history])
    w1 = np.array([float(r["w1"]) for r in history])
    if len(w1) < 3 or negative_loss.std() == 0 or w1.std() == 0:
        return {}
    return {"pearson": pearsonr(negative_loss, w1)[0], "spearman": spearmanr(negative_loss, w1)[0]}


SCORES = {"surfaces": surface_scores, "gradients": gradient_scores_with_control, "loss": loss_scores}


def summarise(part, docs, csv_path, out, smoke):
    pass


# ---- the command line -------------------------------------------------------------------------------------------

def parts_help():
    lines = ["parts (default size; minutes on 2 cores, two runs side by side):"]
    for name, p in PARTS.items():
        runs = len(p.arms) * len(p.datasets) * p.seeds
        lines.append(f"  {name:15s} {p.what}; {runs} runs of {p.iters} iterations, ~{p.minutes} min")
    return "\n".join(lines)


def positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: at least 1")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=parts_help(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="+", metavar="PART", help="one or more of the parts below, or all")
    parser.add_argument("--seeds", type=positive, help="seeds 1..K (default: the part's, 3)")
    parser.add_argument("--iters", type=positive, help="iterations of every run (default: the part's)")
    parser.add_argument("--eval-every", type=positive, help="evaluate every N iterations (default: the part's)")
    parser.add_argument("--datasets", help="comma-separated: only these of the part's datasets")
    parser.add_argument("--workers", type=positive, default=2, help="runs at a time, one thread each (default 2)")
    parser.add_argument("--out", help="run folders (default runs/claims, with --smoke runs/claims-smoke)")
    parser.add_argument("--docs", help="where the per-seed CSVs, figures and claims.md are (default docs; "
                                       "with --smoke OUT/docs)")
    parser.add_argument("--summary-only", action="store_true", help="no training: tables from the CSVs")
    parser.add_argument("--smoke", action="store_true", help="every run at a tiny size, to check that it runs")
    args = parser.parse_args(argv)
    names = list(PARTS) if "all" in args.parts else args.parts
    unknown = [p for p in names if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}; choose from {', '.join(PARTS)} or all")
    out = os.path.abspath(args.out or os.path.join(ROOT, "runs", "claims-smoke" if args.smoke else "claims"))
    docs = os.path.abspath(args.docs or (os.path.join(out, "docs") if args.smoke else os.path.join(ROOT, "docs")))
    for flag, path in (("--out", out), ("--docs", docs)):
        if os.path.exists(path) and not os.path.isdir(path):
            parser.error(f"{flag} {path} is a file, not a folder")
    datasets = {}
    for name in names:
        chosen = args.datasets.split(",") if args.datasets else list(PARTS[name].datasets)
        wrong = [d for d in chosen if d not in PARTS[name].datasets]
        if wrong:
            parser.error(f"--datasets {wrong[0]}: part {name} runs on {', '.join(PARTS[name].datasets)}")
        datasets[name] = chosen
    if args.summary_only and (args.iters or args.eval_every):
        parser.error("--summary-only reads the committed numbers; --iters / --eval-every are for training")
    os.makedirs(os.path.join(docs, "claims"), exist_ok=True)
    for name in names:
        part = PARTS[name]
        seeds = list(range(1, (args.seeds or part.seeds) + 1))
        iters = args.iters or part.iters
        eval_every = min(args.eval_every or part.eval_every, iters)
        csv_path = os.path.join(docs, "claims", f"{name}.csv")
        if not args.summary_only:
            jobs = plan(out, name, seeds, datasets[name], iters, eval_every, args.smoke)
            print(f"{name}: {len(jobs)} runs to do ({len(seeds)} seeds, {iters} iterations)", flush=True)
            started = time.time()
            train(jobs, args.workers)
            records, found = collect(name, out, seeds, datasets[name], iters, eval_every, args.smoke)
            command = f"python benchmarks/claims.py {name} --iters {iters} --seeds {len(seeds)}" + (
                f" --datasets {','.join(datasets[name])}" if args.datasets else "") + (" --smoke" if args.smoke else "")
            meta = {"command": command, "iters": iters, "eval_every": eval_every, "seeds": seeds,
                    "wall_clock_s": round(time.time() - started), "workers": args.workers, "machine": machine(),
                    "runs": {f"{arm} / {d}": s for (arm, d), s in found.items()}}
            save_numbers(csv_path, records, datasets[name], meta)
        summarise(name, docs, csv_path, out, args.smoke)


if __name__ == "__main__":
    main()
