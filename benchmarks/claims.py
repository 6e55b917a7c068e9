"""The claims ledger's runs (docs/claims.md): each claim of the seeds that fits a CPU, in miniature, several seeds,
run with the method scripts themselves; verdicts computed from the per-seed numbers by one stated rule.

    python benchmarks/claims.py PART [PART ...] [--iters N] [--seeds K] [--datasets D,D]   # train, then summarise
    python benchmarks/claims.py all --summary-only      # tables, verdicts, figures again from docs/claims/*.csv
    python benchmarks/claims.py --help                  # the parts, their sizes and times

Every run is `python SCRIPT FLAGS --seed K` with one thread, `--workers` at a time. A run's folder,
runs/claims/<part>/<arm>__<data>__seed<k>__<key>/, carries a key of its exact flags, so a run of other settings is
never reused; a finished run of the same settings is, an interrupted one is resumed (`--resume`). Each part's
per-seed numbers go to docs/claims/<part>.csv (its command and wall-clock to <part>.json), and the tables and
verdicts between the `<!-- ledger:... -->` markers of docs/claims.md are rewritten from them. `--smoke`: every arm
at a tiny size on the part's first dataset into runs/claims-smoke/, its numbers and figures there too, never into
docs/.
"""
import argparse
import concurrent.futures
import csv
import glob
import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TOYS = ("8gaussians", "25gaussians", "swissroll")
ALPHA = 0.05  # the verdict rule's significance level (two-sided Welch test)


class Part:
    """arms: name -> script and its flags; datasets; flags every arm gets (--iters and --eval-every first);
    seeds: how many by default; sizes: a dataset's own default {"iters": N, "seeds": K} where the ledger runs it
    longer or with more seeds; minutes: wall-clock at the default size on 2 cores, two runs side by side."""

    def __init__(self, arms, datasets, iters, eval_every, flags=(), seeds=3, minutes=None, what="", sizes=None):
        self.arms, self.datasets, self.iters, self.eval_every = arms, datasets, iters, eval_every
        self.flags, self.seeds, self.minutes, self.what = list(flags), seeds, minutes, what
        self.sizes = sizes or {}

    def size(self, dataset, iters=None, seeds=None):
        """(iterations, seeds) of `dataset`'s runs: the command line's, else the dataset's own, else the part's."""
        own = self.sizes.get(dataset, {})
        return iters or own.get("iters", self.iters), seeds or own.get("seeds", self.seeds)

    def runs(self):
        return sum(len(self.arms) * self.size(d)[1] for d in self.datasets)


PARTS = {
    "surfaces": Part({"clipping": ["wgangp.py", "--mode", "wgan", "--fixed-generator"],
                      "penalty": ["wgangp.py", "--fixed-generator"]}, TOYS, 1000, 1000, seeds=3, minutes=80,
                     sizes={"25gaussians": {"iters": 10000}},  # 1,000 leave the penalised critic unconverged there
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
                  ("8gaussians", "25gaussians"), 10000, 1000, seeds=3, minutes=65,
                  sizes={"8gaussians": {"seeds": 5}},  # 3 seeds left its rows undecided
                  what="DRAGAN's toys: the standard GAN with and without DRAGAN's penalty, modes and W1"),
    "fogan-text": Part({"FOGAN": ["fogan_text.py"], "WGAN-GP": ["wgangp.py"]}, ("text",), 5000, 500, seeds=3,
                       minutes=55, what="FOGAN Figure 2: 4-gram JSD per iteration and per wall-clock vs WGAN-GP"),
    "fogan-images": Part({"FOGAN": ["fogan_celeba.py"],
                          "WGAN-GP (TTUR)": ["wgangp.py", "--width", "32", "--n-critic", "1", "--lr-critic", "3e-4",
                                             "--lr-generator", "1e-4", "--beta1", "0"]}, ("digits",), 3000, 250,
                         ["--eval-samples", "1000"], seeds=5, minutes=60,
                         what="FOGAN Table 2 in miniature: fd_digits vs WGAN-GP (TTUR), same nets"),
    "figure3-digits": Part({"WGAN-GP": ["wgangp.py"], "WGAN (clipping)": ["wgangp.py", "--mode", "wgan"]},
                           ("digits",), 5000, 250, seeds=5, minutes=130,
                           what="WGAN-GP Figure 3 on the digits: fd_digits per iteration and per second vs clipping"),
    "overfit": Part({"WGAN-GP": ["wgangp.py", "--train-size", "1000"]}, ("digits",), 2000, 100, seeds=3, minutes=40,
                    what="WGAN-GP Figure 5(b): the critic's estimate on its 1,000 training digits and on held-out ones"),
    "two-sided": Part({"two-sided, lambda 0.1": ["wgangp.py", "--schedule", "blog", "--lam", "0.1"],
                       "two-sided, lambda 1": ["wgangp.py", "--schedule", "blog", "--lam", "1"],
                       "two-sided, lambda 10": ["wgangp.py", "--schedule", "blog", "--lam", "10"],
                       "one-sided, lambda 10": ["wgangp.py", "--schedule", "blog", "--one-sided"]}, ("swissroll",),
                      500, 50, seeds=3, minutes=120,
                      what="Lernapparat: the two-sided penalty at lambda 0.1, 1 and 10 in the notebook's setting"),
    "prodgan": Part({"PRODGAN": ["dragan.py", "--schedule", "blog", "--perturb", "prod", "--loss", "wgan"],
                     "one-sided": ["wgangp.py", "--schedule", "blog", "--one-sided"],
                     "DRAGAN": ["dragan.py", "--schedule", "blog", "--perturb", "improved", "--loss", "wgan"]},
                    ("swissroll",), 500, 50, seeds=3, minutes=90,
                    what="Lernapparat: PRODGAN (the penalty at the data) and DRAGAN against the one-sided penalty: "
                         "W1, and the level sets away from the data"),
    "advas-digits": Part({"WGAN-GP, 5 critic steps": ["advas.py", "--no-advas", "--n-critic", "5"],
                          "WGAN-GP, 1 critic step": ["advas.py", "--no-advas", "--n-critic", "1"],
                          "AdvAs, 1 critic step": ["advas.py", "--n-critic", "1"]}, ("digits",), 5000, 250, seeds=3,
                         minutes=55, what="AdvAs's MNIST claim in miniature: best fd_digits vs n_critic baselines"),
    "advas-lambda": Part({"AdvAs, the rule": ["advas.py", "--n-critic", "1"],
                          "AdvAs, lambda 1": ["advas.py", "--n-critic", "1", "--advas-lambda", "1"],
                          "AdvAs, lambda 10": ["advas.py", "--n-critic", "1", "--advas-lambda", "10"]},
                         ("25gaussians",), 2000, 100, ["--width", "128"], seeds=3, minutes=30,
                         what="AdvAs's lambda: the rule min(1, |g_orig| / |g_AdvAs|) against fixed values"),
    "text-batch-norm": Part({"FOGAN, batch norm": ["fogan_text.py", "--generator-batch-norm"],
                             "FOGAN, no batch norm": ["fogan_text.py", "--no-generator-batch-norm"],
                             "WGAN-GP, batch norm": ["wgangp.py", "--generator-batch-norm"],
                             "WGAN-GP, no batch norm": ["wgangp.py", "--no-generator-batch-norm"]}, ("text",),
                            5000, 500, seeds=3, minutes=110,
                            what="FOGAN 5.2: batch norm in the text generator, for FOGAN and WGAN-GP, by 4-gram JSD"),
}
CURVES = {"two-sided": "w1", "prodgan": "w1", "fogan-text": "js4", "fogan-images": "fd_digits",
          "figure3-digits": "fd_digits", "advas-digits": "fd_digits", "modes": "w1", "loss": "w1",
          "advas-lambda": "w1", "text-batch-norm": "js4"}  # the metric drawn against time; lower is better
LOSS_WARMUP = 0.2  # the loss row correlates the evaluations after the first 20 % of the run (the critic's warm-up)
SMOKE = ["--width", "16", "--batch-size", "16", "--eval-samples", "100"]  # --smoke: these, 2 iterations, 1 evaluation


# ---- the verdict rule ---------------------------------------------------------------------------------------------

RULE = (f"A comparison of two arms is a two-sided Welch t-test on the per-seed values (the spread shown is the "
        f"sample standard deviation, ddof 1). **holds**: the claimed direction is significant (p < {ALPHA}) and "
        f"the picture agrees; **does not hold**: the opposite direction is significant, or a margin stated before "
        f"the runs contains the whole 90 % confidence interval of the difference (the effect is shown smaller than "
        f"the margin); **undecided at this size**: anything else; **not testable here**: the claim needs a GPU, the "
        f"paper's data, a model no script here has (the row gives the command that would test it) or a formula "
        f"the seed's text has lost. A trend "
        f"claim (a correlation) is a one-sample t-test of the per-seed coefficients against 0. A claim's verdict is "
        f"that of the measure its wording names (its primary measure); where it names k of them, measures or pairs "
        f"of arms (per iteration and per second; lambda 0.1 and 1), it holds when each holds (p: the largest) and "
        f"does not hold when one does not at p < {ALPHA} / k; the other measures are shown as secondary and decide "
        f"nothing.")


def satterthwaite(arms):
    """(standard error, Welch-Satterthwaite degrees of freedom) of a sum or difference of independent arms' means,
    from each arm's (sample variance, n)."""
    variances = [(var / n, n) for var, n in arms]
    se2 = sum(v for v, _ in variances)
    return np.sqrt(se2), (se2 ** 2 / sum(v ** 2 / (n - 1) for v, n in variances) if se2 else np.inf)


def welch(a, b):
    """(mean(a) - mean(b), two-sided p, the 90 % confidence interval of the difference) by Welch's t-test."""
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a.mean() - b.mean()
    se, df = satterthwaite([(a.var(ddof=1), len(a)), (b.var(ddof=1), len(b))])
    if se == 0:  # no spread in either arm: the difference is exact
        return diff, (0.0 if diff else 1.0), (diff, diff)
    half = stats.t.ppf(0.95, df) * se
    return diff, float(2 * stats.t.sf(abs(diff / se), df)), (diff - half, diff + half)


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


def seeds_needed(a, b=None, shift=0.0, sides=2, power=0.8, most=100):
    """Seeds per arm at which the observed effect would be significant with probability `power`: a t-test at the
    observed mean difference (a - shift - b; with b None a one-sample test of a - shift) and the observed spread.
    None when even `most` seeds would not do (the effect is small against the spread)."""
    if len(a) < 2 or (b is not None and len(b) < 2):
        return None
    a = np.asarray(a, float) - shift
    if b is None:
        return seeds_for_effect(abs(a.mean()), a.std(ddof=1), False, sides, power, most)
    b = np.asarray(b, float)
    sd = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return seeds_for_effect(abs(a.mean() - b.mean()), sd, True, sides, power, most)


def seeds_for_effect(effect, sd, two_sample=True, sides=2, power=0.8, most=100):
    """The smallest n (per arm) whose t-test detects `effect` at spread `sd` with probability `power`."""
    from scipy import stats
    if sd == 0:
        return 2 if effect else None
    for n in range(2, most + 1):
        df, ncp = (2 * n - 2, effect / sd * np.sqrt(n / 2)) if two_sample else (n - 1, effect / sd * np.sqrt(n))
        if stats.nct.sf(stats.t.ppf(1 - ALPHA / sides, df), df, ncp) >= power:
            return n
    return None


def to_decide(v, p, have, run_seconds, needed):
    """What would decide an undecided row: `needed` seeds per arm (seeds_needed), the runs that adds and their
    wall-clock two at a time (`run_seconds`: one run of each arm compared, summed; None: a restated study, whose
    runs' times are not in the ledger)."""
    if v != "undecided at this size" or p is None:
        return ""
    if p < ALPHA:
        return "; significant, but the picture does not show the claim (the rule asks for both): see the figure"
    if needed is None:
        return ("; more seeds would not decide it at this size (the observed effect is too small against the spread "
                "for 80 % power with 100 seeds per arm)")
    if run_seconds is None:
        return f"; to decide: about {needed} seeds per arm (80 % power at the observed effect)"
    more = max(needed - have, 0)
    return (f"; to decide: about {needed} seeds per arm (80 % power at the observed effect), {more} more each, "
            f"~{more * run_seconds / 2 / 60:.0f} min two at a time")


def run_seconds(table, arms, dataset):
    """A run's mean wall-clock for each of `arms`, summed (from the `seconds` column's last value per seed)."""
    return sum(np.mean([v[-1][1] for v in table.get((arm, dataset, "seconds"), {}).values()] or [0]) for arm in arms)


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
    import common
    return common.read_metrics_rows(os.path.join(run_dir, "metrics.csv"))


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
                               "--run-name", os.path.basename(run_dir),
                               "--cache-dir", os.path.join(out, ".cache")]  # one digits classifier for every part
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
    """common.write_atomically: through a uniquely named temporary file beside `path`, renamed once whole."""
    import common
    common.write_atomically(path, write, binary=mode == "wb")


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
    """1-Lipschitz critics that ignore the data and that follow it: the cone -‖x‖ and minus the distance to the
    nearest of 2,000 real points (which an optimal critic between data and a cloud around it resembles)."""
    import torch
    anchors = torch.as_tensor(data.real_sample(2000, seed=11), dtype=torch.float32)
    return {"cone -‖x‖": lambda x: -x.norm(dim=1),
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


def overfit_scores(run_dir):
    """Spearman correlation, over the evaluations, of the gap w_distance_train - w_distance_heldout (the critic's
    estimate on its training digits less that on held-out ones) with the iteration: > 0, the gap grows."""
    from scipy.stats import spearmanr
    history = rows(run_dir)
    gap = [float(r["w_distance_train"]) - float(r["w_distance_heldout"]) for r in history]
    return {"gap_trend": spearmanr([int(r["iteration"]) for r in history], gap)[0]} if len(gap) > 2 else {}


def level_irregularity(critic, real):
    """How irregular a critic's level sets are away from the data: on a 121 x 121 grid over [-2, 2]^2, the points
    farther than 0.25 from every point of `real`; there the coefficient of variation (std / mean) of ||grad f||
    (`levels_cv`: 0 = evenly spaced level lines, as minus the distance to the data has). `critic` maps (n, 2) float
    tensors to n scores."""
    import torch
    from scipy.spatial import cKDTree
    axis = np.linspace(-2, 2, 121)
    xx, yy = np.meshgrid(axis, axis)
    grid = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32).requires_grad_(True)
    grad, = torch.autograd.grad(critic(grid).sum(), grid)
    away = cKDTree(real).query(grid.detach().numpy())[0] > 0.25
    norms = grad.norm(dim=1).numpy()[away]
    return {"levels_cv": float(norms.std() / norms.mean())}


def level_scores(run_dir):
    critic, data, _ = load_critic(run_dir)
    return level_irregularity(lambda x: critic(x).reshape(len(x)), data.real_sample(2000, seed=7))


SCORES = {"surfaces": surface_scores, "gradients": gradient_scores_with_control, "loss": loss_scores,
          "overfit": overfit_scores, "prodgan": level_scores}


# ---- tables, verdicts and figures from the per-seed numbers ---------------------------------------------------------

def spread(values, digits=3, kind="f"):
    """mean ± sample standard deviation (ddof 1), and the number of seeds."""
    if not values:
        return "-"
    sd = f" ± {np.std(values, ddof=1):.{digits}{kind}}" if len(values) > 1 else ""
    return f"{np.mean(values):.{digits}{kind}}{sd} (n {len(values)})"


def p_text(p):
    return "p -" if p is None else f"p {p:.2g}"


# (part, dataset, iterations) whose picture was looked at and does not show what the numbers say: "holds" becomes
# "undecided". surfaces / 25 Gaussians, 1,000 iterations: the penalised critic is still a pyramid with faint bumps
# at the modes (Prop. 1 0.63 against the data-following reference's 0.87), not a surface that follows the grid.
PICTURE_DISAGREES = {("surfaces", "25gaussians", 1000)}


def picture_agrees(part, table, dataset):
    """False where the part's runs on `dataset` (at their length) are in PICTURE_DISAGREES."""
    lengths = {v[-1][0] for (_, d, q), seeds in table.items() if d == dataset and q == "seconds" for v in seeds.values()}
    return not any((part, dataset, n) in PICTURE_DISAGREES for n in lengths)


def noninferior(claimed, other, ratio):
    """"competitive": `claimed` (lower is better, positive) is at most `ratio` times `other`. A Welch test on the
    logarithms: holds when the 90 % interval of log(claimed / other) lies below log(ratio), does not hold when it
    lies above; else undecided. Returns (verdict, p, the ratio and its interval as text); p is the one-sided test
    of the ratio against the margin, in the direction of the verdict (towards "holds" when undecided)."""
    from scipy import stats
    if len(claimed) < 2 or len(other) < 2:
        return "undecided at this size", None, None
    a, b = np.log(claimed), np.log(other)
    diff, _, (low, high) = welch(a, b)
    interval = f"; ratio {np.exp(diff):.2f}, 90 % interval {np.exp(low):.2f}-{np.exp(high):.2f} (margin {ratio})"
    se, df = satterthwaite([(a.var(ddof=1), len(a)), (b.var(ddof=1), len(b))])
    if se == 0:
        below = 0.0 if diff < np.log(ratio) else 1.0
    else:
        below = float(stats.t.cdf((diff - np.log(ratio)) / se, df))  # H0: the ratio >= the margin
    if high < np.log(ratio):
        return "holds", below, interval
    if low > np.log(ratio):
        return "does not hold", 1.0 - below, interval
    return "undecided at this size", below, interval


def at_wall_clock(table, arm, dataset, metric, budget):
    """Per seed: the metric at the last evaluation within `budget` seconds."""
    out = []
    for seed, series in sorted(table.get((arm, dataset, metric), {}).items()):
        seconds = dict(table[(arm, dataset, "seconds")][seed])
        within = [v for it, v in series if seconds.get(it, np.inf) <= budget]
        if within:
            out.append(within[-1])
    return out


def common_budget(table, arms, dataset):
    ends = [v[-1][1] for arm in arms for v in table.get((arm, dataset, "seconds"), {}).values()]
    return min(ends) if ends else 0.0


def summary_rows(part, table):
    """(markdown lines of the part's table, [(claim id, dataset, measured, verdict, p)])."""
    p = PARTS[part]
    lines, verdicts = [], []
    datasets = sorted({d for (_, d, _) in table}, key=lambda d: p.datasets.index(d) if d in p.datasets else 99)
    if part == "surfaces":
        import common
        lines += ["| critic | dataset | optimality (1 = optimal) | Proposition 1 cosine (1 = optimal) |",
                  "|---|---|---|---|"]
        for d in datasets:
            data = common.make_data(d, None, 2, __import__("torch").device("cpu"), 0)
            refs = {name: critic_scores(f, *fixed_generator_clouds(data)) for name, f in reference_critics(data).items()}
            for name, r in refs.items():
                lines.append(f"| reference: {name} | {d} | {r['optimality']:.3f} | {r['prop1']:.3f} |")
            for arm in p.arms:
                lines.append(f"| {arm} | {d} | {spread(final(table, arm, d, 'optimality'))} | "
                             f"{spread(final(table, arm, d, 'prop1'))} |")
            cone, follows = refs["cone -‖x‖"]["prop1"], refs["minus the distance to the data"]["prop1"]
            pen, clip = final(table, "penalty", d, "prop1"), final(table, "clipping", d, "prop1")
            measured = f"Proposition 1 cosine, penalty {spread(pen)} vs clipping {spread(clip)}"
            if follows <= cone:
                verdicts.append(("fig1a", d, measured + f"; the score ranks the cone ({cone:.3f}) above the "
                                 f"data-following critic ({follows:.3f})", "no verdict: the score cannot tell here",
                                 None))
            else:
                v, pv = verdict(pen, clip, "higher", picture=picture_agrees(part, table, d))
                measured += to_decide(v, pv, len(pen), run_seconds(table, p.arms, d), seeds_needed(pen, clip))
                verdicts.append(("fig1a", d, measured, v, pv))
    elif part == "gradients":
        lines += ["| critic | layer 1 gradient | layer 12 gradient | log10 ratio 1/12 | weights at the bound |",
                  "|---|---|---|---|---|"]
        d = "swissroll"
        logratio = {}
        for arm in p.arms:
            for prefix, label in (("step0_", " (step 0: the clipped initialisation)"), ("", "")):
                if prefix and not arm.startswith("clip"):
                    continue
                first, last = final(table, arm, d, prefix + "grad_layer1"), final(table, arm, d, prefix + "grad_layer12")
                ratio = list(np.log10(np.array(first) / np.array(last))) if first else []
                logratio[arm + label] = ratio
                lines.append(f"| {arm}{label} | {spread(first, 2, 'e')} | {spread(last, 2, 'e')} | {spread(ratio, 2)} | "
                             f"{spread(final(table, arm, d, prefix + 'at_bound'), 3) if arm.startswith('clip') else '-'} |")
        for arm in p.arms:
            if arm.startswith("clip") and logratio.get(arm):
                clipped, penalty = list(np.abs(logratio[arm])), list(np.abs(logratio["penalty"]))
                v, pv = verdict(clipped, penalty, "higher")
                verdicts.append(("fig1b", f"{d}, {arm}", f"abs(log10 ratio) {spread(clipped, 2)} vs penalty "
                                 f"{spread(penalty, 2)}", v, pv))
        for arm in p.arms:  # the control: is it the training, or the clip of the initial weights alone?
            control = logratio.get(arm + " (step 0: the clipped initialisation)")
            if arm.startswith("clip") and control and logratio.get(arm):
                trained, before = list(np.abs(logratio[arm])), list(np.abs(control))
                v, pv = verdict(trained, before, "higher")
                verdicts.append(("fig1b control", f"{d}, {arm}: trained vs step 0", f"abs(log10 ratio) "
                                 f"{spread(trained, 2)} vs {spread(before, 2)} before any training", v, pv))
    elif part == "loss":
        lines += ["| critic | Pearson r (held-out negative loss, W1) | Spearman rho | final W1 | best W1 |",
                  "|---|---|---|---|---|"]
        d = "swissroll"
        for arm in p.arms:
            lines.append(f"| {arm} | {spread(final(table, arm, d, 'pearson'), 2)} | "
                         f"{spread(final(table, arm, d, 'spearman'), 2)} | {spread(final(table, arm, d, 'w1'))} | "
                         f"{spread(final(table, arm, d, 'w1', 'min'))} |")
            r = final(table, arm, d, "pearson")
            v, pv = trend_verdict(r, +1)
            secondary = "" if arm == "WGAN-GP" else SUPPORTING[0]  # the claim: the property holds with the penalty
            verdicts.append(("loss", f"{d}, {arm}{secondary}", f"Pearson r {spread(r, 2)}"
                             + to_decide(v, pv, len(r), run_seconds(table, [arm], d), seeds_needed(r)), v, pv))
        budget = common_budget(table, p.arms, d)  # Figure 3: per iteration and per second, jointly
        results = []
        for how, pick in (("per iteration (final)", lambda a: final(table, a, d, "w1")),
                          (f"per wall-clock (at {budget:.0f} s)", lambda a: at_wall_clock(table, a, d, "w1", budget))):
            pen, clip = pick("WGAN-GP"), pick("WGAN (clipping)")
            v, pv = verdict(pen, clip, "lower")
            results.append((v, pv))
            verdicts.append(("fig3-toy", f"{d}, {how}{SUPPORTING[1]}", f"W1 penalty {spread(pen)} vs clipping "
                             f"{spread(clip)}" + to_decide(v, pv, len(pen), run_seconds(table, p.arms, d),
                                                           seeds_needed(pen, clip)), v, pv))
        verdicts.append(("fig3-toy", f"{d}, per iteration and per wall-clock, jointly", *joint_row(results)))
    elif part == "overfit":
        lines += ["| critic | dataset | negative loss, training digits (final) | held-out digits (final) | gap trend (Spearman) |",
                  "|---|---|---|---|---|"]
        d, arm = "digits", "WGAN-GP"
        train, heldout = final(table, arm, d, "w_distance_train"), final(table, arm, d, "w_distance_heldout")
        trend = final(table, arm, d, "gap_trend")
        lines.append(f"| {arm} | {d} (1,000 trained on) | {spread(train)} | {spread(heldout)} | {spread(trend, 2)} |")
        v, pv = trend_verdict(trend, +1)
        verdicts.append(("overfit", f"{d}, {arm}", f"Spearman of the train - held-out gap with the iteration "
                         f"{spread(trend, 2)}" + to_decide(v, pv, len(trend), run_seconds(table, [arm], d),
                                                           seeds_needed(trend)), v, pv))
    elif part == "modes":
        lines += ["| arm | dataset | modes (final) | share near a mode | W1 |", "|---|---|---|---|---|"]
        for d in datasets:
            for arm in p.arms:
                lines.append(f"| {arm} | {d} | {spread(final(table, arm, d, 'modes'), 1)} | "
                             f"{spread(final(table, arm, d, 'high_quality'), 3)} | {spread(final(table, arm, d, 'w1'))} |")
            gan, dragan = "GAN (lambda 0)", "DRAGAN (lambda 10)"
            for quantity, better in (("modes", "higher"), ("high_quality", "higher"), ("w1", "lower")):
                a, b = final(table, dragan, d, quantity), final(table, gan, d, quantity)
                v, pv = verdict(a, b, better, picture=picture_agrees(part, table, d))
                verdicts.append(("modes", f"{d}, {quantity}{role(part, quantity)}",
                                 f"{quantity} DRAGAN {spread(a, 3)} vs GAN {spread(b, 3)}"
                                 + to_decide(v, pv, len(a), run_seconds(table, [dragan, gan], d), seeds_needed(a, b)),
                                 v, pv))
    else:
        metric = CURVES[part]
        for d in datasets:
            arms = [a for a in p.arms if (a, d, metric) in table]
            budget = common_budget(table, arms, d)
            lines += [f"| {d}: {metric} (lower is better) | final | best | at {budget:.0f} s | s / 1k iterations |",
                      "|---|---|---|---|---|"]
            speed = {}
            for arm in arms:
                seconds = final(table, arm, d, "seconds")
                its = [v[-1][0] for _, v in sorted(table[(arm, d, "seconds")].items())]
                speed[arm] = [1000 * s / i for s, i in zip(seconds, its)]
                lines.append(f"| {arm} | {spread(final(table, arm, d, metric))} | "
                             f"{spread(final(table, arm, d, metric, 'min'))} | "
                             f"{spread(at_wall_clock(table, arm, d, metric, budget))} | {spread(speed[arm], 1)} |")
            per_pair = []
            for claimed, other in CLAIMED[part]:
                pair = f", {claimed} vs {other}" if len(CLAIMED[part]) > 1 else ""
                results = {}
                for key, how, pick in (("final", "per iteration (final)", lambda a: final(table, a, d, metric)),
                                       ("best", "per iteration (best)", lambda a: final(table, a, d, metric, "min")),
                                       ("wall-clock", f"per wall-clock (at {budget:.0f} s)",
                                        lambda a: at_wall_clock(table, a, d, metric, budget))):
                    a, b = pick(claimed), pick(other)
                    if part in ("fogan-images", "prodgan"):  # "competitive", "works reasonably well": <= 1.5x
                        v, pv, interval = noninferior(a, b, 1.5)
                        needed = seeds_needed(np.log(a), np.log(b), shift=np.log(1.5), sides=1)
                    else:
                        (v, pv), interval = verdict(a, b, "lower"), ""
                        needed = seeds_needed(a, b)
                    interval = (interval or "") + to_decide(v, pv, len(a), run_seconds(table, [claimed, other], d),
                                                            needed)
                    results[key] = (how, v, pv)
                    where = f"{d}, {how}{pair}" + role(part, key)
                    verdicts.append((part, where, f"{claimed} {spread(a)} vs {other} {spread(b)}{interval or ''}", v,
                                     pv))
                chosen = {how: (v, pv) for key, (how, v, pv) in results.items() if key in PRIMARY[part]}
                if len(chosen) > 1:
                    row = joint_row(list(chosen.values()))
                    verdicts.append((part, f"{d}, {' and '.join(chosen)}{pair}, jointly"
                                     + (SUPPORTING[1] if pair else ""), *row))
                    per_pair.append(row[1:])
                else:
                    per_pair.append(next(iter(chosen.values())))
            if len(per_pair) > 1:  # one claim over several pairs of arms ("at lambda 0.1 and 1"): jointly
                verdicts.append((part, f"{d}, {' and '.join(f'{a} vs {b}' for a, b in CLAIMED[part])}, jointly",
                                 *joint_row(per_pair)))
            if part == "prodgan" and (("DRAGAN", d, "levels_cv") in table):  # the level sets away from the data
                lines += ["", "| critic | level sets away from the data: CV of ‖grad f‖ (0 = evenly spaced) |",
                          "|---|---|"]
                lines += [f"| {arm} | {spread(final(table, arm, d, 'levels_cv'))} |" for arm in arms]
                a, b = final(table, "DRAGAN", d, "levels_cv"), final(table, "one-sided", d, "levels_cv")
                v, pv = verdict(a, b, "higher")
                verdicts.append(("dragan-levels", f"{d}, DRAGAN vs one-sided", f"CV of ‖grad f‖ away from the data "
                                 f"DRAGAN {spread(a)} vs one-sided {spread(b)}"
                                 + to_decide(v, pv, len(a), run_seconds(table, ["DRAGAN", "one-sided"], d),
                                             seeds_needed(a, b)), v, pv))
    return lines, verdicts


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, docs, name, dpi=80):
    """tight layout, then written atomically: a kill leaves the previous picture."""
    import io
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(fig)
    write_atomically(os.path.join(docs, f"claims_{name}.png"), lambda f: f.write(buffer.getvalue()), "wb")


def finished_folder(out, part, arm, dataset, seed, meta, smoke):
    """The run folder of these settings (from the part's .json), if its run finished."""
    m = meta.get(dataset)
    if not m:
        return None
    script, flags = run_flags(part, arm, dataset, m["iters"], m["eval_every"], smoke)
    run_dir = folder(out, part, arm, dataset, seed, [script, *flags])
    return run_dir if finished(run_dir) else None


def seed1_runs(part, out, meta, smoke):
    """The part's arms, the datasets it has numbers for, and seed 1's finished run folder of each (None: one lacks)."""
    arms, datasets = list(PARTS[part].arms), [d for d in PARTS[part].datasets if d in meta]
    runs = {(a, d): finished_folder(out, part, a, d, 1, meta, smoke) for a in arms for d in datasets}
    return arms, datasets, (runs if datasets and all(runs.values()) else None)


def seeds_of(table, arm, dataset, quantity):
    return sorted(table.get((arm, dataset, quantity), {}))


def figure_surfaces(part, table, out, docs, meta, smoke):
    """Value surfaces of seed 1's critics (needs the run folders; without them the committed picture stays)."""
    import torch
    plt = pyplot()
    arms, datasets, runs = seed1_runs(part, out, meta, smoke)
    if runs is None:
        return print(f"({part}: the figure needs seed 1's run folders under {out}; the committed one is kept)")
    fig, axes = plt.subplots(len(arms), len(datasets), figsize=(3.4 * len(datasets), 6.6), squeeze=False)
    for row, arm in enumerate(arms):
        for column, d in enumerate(datasets):
            critic, data, _ = load_critic(runs[(arm, d)])
            grid = np.linspace(-3, 3, 160)
            xx, yy = np.meshgrid(grid, grid)
            with torch.no_grad():
                values = critic(torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32))
            ax = axes[row, column]
            ax.contourf(xx, yy, values.numpy().reshape(xx.shape), levels=20, cmap="viridis")
            real = data.real_sample(1000)
            ax.scatter(real[:, 0], real[:, 1], s=1, c="orange")
            ax.set_title(f"{arm}: {d}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Value surfaces of critics trained against real + N(0, 1), seed 1 of "
                 f"{len(seeds_of(table, arms[0], datasets[0], 'prop1'))}; real points in orange", fontsize=10)
    save_figure(fig, docs, part)


def figure_gradients(part, table, out, docs, meta, smoke):
    """Per-layer gradient norms (geometric mean over the seeds, from the CSV), the step-0 controls dashed; and
    seed 1's deep-layer weights (needs its run folders)."""
    plt = pyplot()
    d = "swissroll"
    fig, (left, *hist) = plt.subplots(1, 3, figsize=(13, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, arm in zip(colours, PARTS[part].arms):
        for prefix, style in (("", "-"), ("step0_", "--")):
            per_layer = [final(table, arm, d, f"{prefix}grad_layer{k}") for k in range(1, 13)]
            if not per_layer[0]:
                continue
            norms = np.array(per_layer)  # (layer, seed)
            left.plot(range(1, 13), np.exp(np.log(norms).mean(1)), style, marker="o", ms=3, color=colour,
                      label=arm + (" (step 0)" if prefix else ""))
    n = len(seeds_of(table, "penalty", d, "grad_layer1"))
    left.set_yscale("log")
    left.set_xlabel("critic layer (1 = next to the input)")
    left.set_ylabel("gradient norm (float64, log scale)")
    left.set_title(f"d(critic loss)/d(activations), geometric mean of {n} seeds", fontsize=9)
    left.legend(fontsize=6)
    left.grid(alpha=0.3)
    for ax, arm in zip(hist, ("clip 0.01", "penalty")):
        run = finished_folder(out, part, arm, d, 1, meta, smoke)
        if run:
            critic, data, _ = load_critic(run)
            _, deep, _ = layer_gradients(critic, data)
            ax.hist(deep, bins=100, color="grey")
            ax.set_yscale("log")
        ax.set_title(f"{arm}: weights of the hidden-to-hidden layers (seed 1)", fontsize=9)
    save_figure(fig, docs, part)


def figure_modes(part, table, out, docs, meta, smoke):
    """Seed 1's last sample picture of each arm and dataset (needs the run folders)."""
    import matplotlib.image as mpimg
    plt = pyplot()
    arms, datasets, runs = seed1_runs(part, out, meta, smoke)
    if runs is None:
        return print(f"({part}: the figure needs seed 1's run folders under {out}; the committed one is kept)")
    fig, axes = plt.subplots(1, len(arms) * len(datasets), figsize=(4 * len(arms) * len(datasets), 4.2), squeeze=False)
    for column, d in enumerate(datasets):
        for row, arm in enumerate(arms):
            pictures = sorted(f for f in os.listdir(runs[(arm, d)]) if f.startswith("toy_"))
            ax = axes[0, column * len(arms) + row]
            ax.imshow(mpimg.imread(os.path.join(runs[(arm, d)], pictures[-1])))
            ax.set_title(f"{arm}, {d}, seed 1 of {len(seeds_of(table, arm, d, 'w1'))}", fontsize=10)
            ax.axis("off")
    save_figure(fig, docs, part, dpi=70)


def figure_loss(part, table, out, docs, meta, smoke):
    """The held-out negative critic loss against the exact W1 at every evaluation, every seed (from the CSV)."""
    plt = pyplot()
    d = "swissroll"
    arms = list(PARTS[part].arms)
    fig, axes = plt.subplots(1, len(arms), figsize=(10, 3.8))
    for ax, arm in zip(axes, arms):
        for seed in seeds_of(table, arm, d, "w1"):
            w1 = [v for _, v in table[(arm, d, "w1")][seed]]
            loss = [v for _, v in table[(arm, d, "w_distance_heldout")][seed]]
            ax.scatter(w1, loss, s=8, label=f"seed {seed}")
        ax.set_xlabel("W1 of 1,000 samples to the data (exact)")
        ax.set_ylabel("negative critic loss, held-out points")
        ax.set_title(f"{arm}, {d}, {len(seeds_of(table, arm, d, 'w1'))} seeds", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    save_figure(fig, docs, part)


def figure_curves(part, table, out, docs, meta, smoke):
    """The part's metric against iterations and wall-clock, every seed of every arm (from the CSV)."""
    plt = pyplot()
    metric = CURVES[part]
    for d in [d for d in PARTS[part].datasets if d in meta]:
        arms = [a for a in PARTS[part].arms if (a, d, metric) in table]
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for colour, arm in zip(colours, arms):
            for k, seed in enumerate(seeds_of(table, arm, d, metric)):
                series = table[(arm, d, metric)][seed]
                seconds = dict(table[(arm, d, "seconds")][seed])
                for ax, xs in zip(axes, ([it for it, _ in series], [seconds[it] for it, _ in series])):
                    ax.plot(xs, [v for _, v in series], color=colour, alpha=0.8, lw=1, marker=".",
                            label=f"{arm} ({len(seeds_of(table, arm, d, metric))} seeds)" if k == 0 else None)
        floors = {q: v for (a, dd, q), v in table.items() if dd == d and q.startswith(metric + "_")
                  and q.endswith(("_bayes", "_floor"))}
        for q, per_seed in floors.items():  # the floor the metric can reach: the Bayes limit, held-out real digits
            level = next(iter(per_seed.values()))[-1][1]
            for ax in axes:
                ax.axhline(level, color="k", ls="--", lw=1, label=q if ax is axes[0] else None)
        for ax, x in zip(axes, ("iterations", "wall-clock seconds (1 CPU thread, runs side by side)")):
            ax.set_xlabel(x)
            ax.set_ylabel(f"{metric} (lower is better)")
            ax.set_yscale("log" if metric.startswith("fd_") else "linear")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        axes[0].set_title(f"{part}: {d}, every seed drawn", fontsize=9)
        save_figure(fig, docs, part if len(meta) == 1 else f"{part}-{d}")


def figure_overfit(part, table, out, docs, meta, smoke):
    """The critic's negative loss on its training digits and on held-out ones at every evaluation, and the gap between
    them (from the CSV)."""
    plt = pyplot()
    d, arm = "digits", "WGAN-GP"
    fig, (ax, gap_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    seeds = seeds_of(table, arm, d, "w_distance_train")
    for colour, seed in zip(colours, seeds):
        train, heldout = (table[(arm, d, q)][seed] for q in ("w_distance_train", "w_distance_heldout"))
        for series, style, what in ((train, "-", "training"), (heldout, "--", "held-out")):
            ax.plot([i for i, _ in series], [v for _, v in series], style, color=colour, lw=1,
                    label=f"seed {seed}, {what} digits")
        gap = dict(train)
        gap_ax.plot([i for i, _ in heldout], [gap[i] - v for i, v in heldout if i in gap], color=colour, lw=1,
                    label=f"seed {seed}")
    ax.set_xlabel("iterations")
    ax.set_ylabel("negative critic loss (no penalty)")
    ax.set_title(f"WGAN-GP on 1,000 digits, {len(seeds)} seeds: training (solid), held-out (dashed)", fontsize=9)
    gap_ax.axhline(0, color="grey", lw=0.8)
    gap_ax.set_xlabel("iterations")
    gap_ax.set_ylabel("training - held-out")
    gap_ax.set_title("the gap: the critic's estimate on its training digits less on held-out ones", fontsize=9)
    for axis in (ax, gap_ax):
        axis.legend(fontsize=6)
        axis.grid(alpha=0.3)
    save_figure(fig, docs, part)


FIGURES = {"surfaces": figure_surfaces, "gradients": figure_gradients, "modes": figure_modes, "loss": figure_loss,
           "overfit": figure_overfit}


# The measure(s) each claim names (its primary endpoint, fixed from the claim's wording): the claim's verdict is theirs,
# jointly where there are two; the other measures are shown as secondary and decide nothing.
PRIMARY = {"figure3-digits": ("final", "wall-clock"),  # "faster and better", per iteration and per second
           "fogan-text": ("final", "wall-clock"),  # "per iteration and per wall-clock"
           "fogan-images": ("final",), "prodgan": ("final",), "two-sided": ("final",), "advas-lambda": ("final",),
           "text-batch-norm": ("final",),  # the trained model's score
           "advas-digits": ("best",),  # "the best FID"
           "modes": ("modes",)}  # "keeps the modes"


SUPPORTING = (" (secondary)", " (in the joint row)")  # measure rows that the claim list leaves out


def role(part, measure):
    """The label a measure's row gets: nothing for the claim's only primary measure, else what it is."""
    if measure not in PRIMARY[part]:
        return SUPPORTING[0]
    return SUPPORTING[1] if len(PRIMARY[part]) > 1 or len(CLAIMED.get(part, ())) > 1 else ""


def joint_row(results):
    """(measured, verdict, p) of the row that decides a claim jointly from its k primary [(verdict, p)]."""
    return (f"holds when each holds; does not hold when one does not at p < {ALPHA} / {len(results)}",
            *joint(results))


def joint(results):
    """The claim's verdict from its primary measures' [(verdict, p)]: holds when every one holds (an
    intersection-union test: its p is the largest); does not hold when one does not at p < 0.05 / k (Bonferroni,
    p shown times k); else undecided (the largest p)."""
    ps = [p for _, p in results if p is not None]
    if len(ps) < len(results):
        return "undecided at this size", None
    against = [p for v, p in results if v == "does not hold"]
    if against and min(against) * len(results) < ALPHA:
        return "does not hold", min(1.0, min(against) * len(results))
    if all(v == "holds" for v, _ in results):
        return "holds", max(ps)
    return "undecided at this size", max(ps)


# the pairs each curve part's claim compares: (the arm it favours, the arm it is compared with)
CLAIMED = {"two-sided": [("two-sided, lambda 0.1", "two-sided, lambda 10"), ("two-sided, lambda 1", "two-sided, lambda 10")],
           "prodgan": [("PRODGAN", "one-sided")], "fogan-text": [("FOGAN", "WGAN-GP")],
           "fogan-images": [("FOGAN", "WGAN-GP (TTUR)")], "figure3-digits": [("WGAN-GP", "WGAN (clipping)")],
           "advas-digits": [("AdvAs, 1 critic step", "WGAN-GP, 1 critic step"),
                            ("AdvAs, 1 critic step", "WGAN-GP, 5 critic steps")],
           "advas-lambda": [("AdvAs, the rule", "AdvAs, lambda 10")],
           "text-batch-norm": [("FOGAN, batch norm", "FOGAN, no batch norm"),
                               ("WGAN-GP, batch norm", "WGAN-GP, no batch norm")]}


CAPTIONS = {
    "surfaces": "Figure 1(a) in miniature: value surfaces of critics trained against real + N(0, 1)",
    "gradients": "Figure 1(b) in miniature: per-layer gradient norms (step-0 controls dashed), the deep layers' weights",
    "loss": "The held-out negative critic loss against the exact W1 at every evaluation",
    "modes": "DRAGAN without (lambda 0) and with (lambda 10) its penalty, seed 1",
    "fogan-text": "FOGAN and WGAN-GP on the embedded text: 4-gram JSD against iterations and wall-clock",
    "fogan-images": "FOGAN and WGAN-GP (TTUR) on the embedded digits: fd_digits against iterations and wall-clock",
    "figure3-digits": "WGAN-GP and WGAN (clipping) on the embedded digits: fd_digits against iterations and wall-clock",
    "advas-digits": "AdvAs and WGAN-GP on the embedded digits: fd_digits against iterations and wall-clock",
    "two-sided": "The two-sided penalty at lambda 0.1, 1, 10 and the one-sided one, the notebook's setting: W1",
    "prodgan": "PRODGAN (the penalty at the data) and the one-sided penalty, the notebook's setting: W1",
    "overfit": "WGAN-GP's critic on its 1,000 training digits and on held-out digits, and the gap, every evaluation",
    "advas-lambda": "AdvAs with its rule for lambda and with fixed lambda 1 and 10 on 25 Gaussians: W1",
    "text-batch-norm": "FOGAN and WGAN-GP with and without batch norm in the text generator: 4-gram JSD",
}


def markdown(part, table, meta, docs=None):
    lines, verdicts = summary_rows(part, table)
    head = []
    for m in {m["command"]: m for m in meta.values()}.values():
        seeds = ", ".join(f"{k}: {len(v)}" for k, v in m["runs"].items())
        head.append(f"`{m['command']}`: {m['iters']} iterations, evaluated every {m['eval_every']}; seeds per arm "
                    f"({seeds}); {m['wall_clock_s'] / 60:.0f} min wall-clock on {m['machine']}, "
                    f"{m['workers']} run(s) at a time in this command.")
    verdict_lines = ["| claim | where | measured | verdict | p |", "|---|---|---|---|---|"]
    verdict_lines += [f"| {cid} | {where} | {measured} | **{v}** | {p_text(pv)} |" for cid, where, measured, v, pv
                      in verdicts]
    pictures = [f"![{CAPTIONS[part]}]({os.path.basename(f)})" for f in sorted(glob.glob(os.path.join(
        docs or "", f"claims_{part}*.png"))) if docs and re.fullmatch(rf"claims_{part}(-[a-z0-9]+)?\.png", os.path.basename(f))]
    return "\n".join([*(f"- {h}" for h in head), "", *lines, "", *verdict_lines, *([""] if pictures else []),
                      *pictures]), verdicts


def replace_block(text, name, body):
    start, end = f"<!-- ledger:{name} -->", f"<!-- /ledger:{name} -->"
    if start not in text or end not in text:
        return text
    before, rest = text.split(start, 1)
    return before + start + "\n" + body + "\n" + end + rest.split(end, 1)[1]


# ---- every empirical claim of the seeds, and how each is tested ----------------------------------------------------
# test: a part's verdict key (its rows of that claim id), "restated" (earlier studies, by their summary numbers), or
# "not run" (fits a CPU, no runs yet: the command), or "not testable" (the command that would test it, its cost).
SEEDS = {"FOGAN": "the FOGAN paper (Seward et al. 2018, seed 000)",
         "WGAN-GP": "the WGAN-GP paper in its slides (Gulrajani et al. 2017, seed 001)",
         "survey": "the GAN survey slides, WGAN Algorithm 1 (Zelaszczyk 2019, seed 002)",
         "Lernapparat": "the Lernapparat post on DRAGAN, PRODGAN and SLOGAN (seed 003)",
         "AdvAs": "the AdvAs paper in its slides (Munk, Harvey & Wood 2021, seed 004)"}
CLAIMS = [
    ("WGAN-GP", "Figure 1(a), 3.1", "a critic trained with weight clipping ignores the data's higher moments; with "
     "the penalty it follows the data", ("part", "fig1a")),
    ("WGAN-GP", "Figure 1(b), 3.2", "with weight clipping a deep critic's gradients explode or vanish through its "
     "layers, the penalty's do not; clipping piles the weights at +-c", ("part", "fig1b")),
    ("WGAN-GP", "Section 5.6, Figure 5(a)", "the negative critic loss tracks sample quality", ("part", "loss")),
    ("WGAN-GP", "Figure 3, 5.3", "the penalty trains faster and better than weight clipping (CIFAR-10 Inception "
     "score per iteration and per second); here the swiss roll's W1", ("part", "fig3-toy")),
    ("WGAN-GP", "Figure 3, 5.3", "the same on the digits, by fd_digits", ("part", "figure3-digits")),
    ("WGAN-GP", "Figure 5(b)", "on 1,000 digits the critic overfits: training and validation losses diverge; with "
     "the penalty the training loss rises while the validation loss falls; here the growth of the gap",
     ("part", "overfit")),
    ("WGAN-GP", "Tables 1-2", "WGAN-GP trains 200 random architectures that the standard GAN fails on",
     ("not testable", "a GPU, CIFAR-10 and an architecture sampler no script here has")),
    ("WGAN-GP", "Figure 2", "WGAN-GP trains every LSUN architecture of the figure (no batch norm, 101 layers, ...)",
     ("not testable", "a GPU, LSUN and the figure's architectures; of them this project has the DCGAN and the "
      "64x64 ResNet: python wgangp.py --dataset folder --data-root LSUN_BEDROOMS --arch resnet (about a GPU-day)")),
    ("WGAN-GP", "Table 3", "CIFAR-10 Inception score 6.58 (DCGAN), 7.86 (ResNet)",
     ("not testable", "a GPU, CIFAR-10 and an Inception score (this project reports FID): "
      "python wgangp.py --dataset cifar10 --data-root ROOT --iters 100000 (about 10 GPU-hours)")),
    ("WGAN-GP", "Figure 4", "128 x 128 LSUN bedroom samples comparable to the best published",
     ("not testable", "a 128 px ResNet no script here has, and LSUN")),
    ("survey", "the JSD slides", "for two parallel lines the JS divergence stays log 2 as theta -> 0 while "
     "W1 = abs(theta)", ("computed", "parallel-lines")),
    ("survey", "the JSD / WGAN slides", "a saturated GAN discriminator leaves the generator almost no gradient; "
     "the WGAN critic's stays usable", ("computed", "saturation")),
    ("Lernapparat", "Figures 6-8", "at lambda 10 on the swiss roll the two-sided penalty does not converge, the "
     "one-sided penalty and SLOGAN do", ("restated", "blog")),
    ("Lernapparat", "Figure 9", "DRAGAN converges more slowly", ("restated", "dragan")),
    ("Lernapparat", "Figure 9", "DRAGAN's level sets are irregular away from the data; here the coefficient of "
     "variation of ‖grad f‖ there", ("part", "dragan-levels")),
    ("Lernapparat", "the text before Figure 5", "the two-sided penalty does converge at lambda 0.1 and 1",
     ("part", "two-sided")),
    ("Lernapparat", "PRODGAN", "the penalty right at the data (PRODGAN) seems to work reasonably well",
     ("part", "prodgan")),
    ("FOGAN", "Figure 2", "on One Billion Word characters FOGAN reaches a lower 4- and 6-gram JSD than WGAN-GP, per "
     "iteration and per wall-clock; here the embedded corpus at width 64", ("part", "fogan-text")),
    ("FOGAN", "Figure 2 (paper scale)", "the same at the paper's width 512 and 100k+ iterations on One Billion Word",
     ("not testable", "a GPU and One Billion Word: python fogan_text.py --data-root 1-billion-word-language-"
      "modeling-benchmark-r13output --iters 100000 against wgangp.py --dataset text (about 4 GPU-hours each)")),
    ("FOGAN", "Table 2", "FOGAN's image FIDs are competitive (CelebA 6.0 against WGAN-GP TTUR's 4.2); here the "
     "digits by fd_digits, competitive = at most 1.5 times the baseline", ("part", "fogan-images")),
    ("FOGAN", "Table 2 (paper scale)", "CelebA FID 6.0 (FOGAN) vs 4.2 (WGAN-GP, TTUR)",
     ("not testable", "a GPU and CelebA: python fogan_celeba.py --data-root img_align_celeba --fid-weights "
      "pt_inception-2015-12-05-6726825d.pth (about 10 GPU-hours)")),
    ("FOGAN", "Section 5.2", "batch norm in the generator improved FOGAN and WGAN-GP on text",
     ("part", "text-batch-norm")),
    ("FOGAN", "Eq. 6, Figure 1", "the penalised divergence between two Diracs equals their Wasserstein distance; "
     "the optimal slope is independent of lambda only with the 1/(2 lambda) term", ("computed", "diracs")),
    ("FOGAN", "Section 5.2", "the n-gram JSD is biased upwards at small sample sizes (the Bayes limit)",
     ("computed", "ngram-bias")),
    ("AdvAs", "MNIST figure, Figure 1", "with AdvAs the best FID on MNIST improves by 28 % over WGAN-GP with several "
     "n_critic; here the digits by fd_digits", ("part", "advas-digits")),
    ("AdvAs", "MNIST (paper scale)", "the same on MNIST with FID, 40,000 iterations",
     ("not testable", "MNIST and a GPU: python advas.py --dataset mnist --data-root ROOT --fid-weights "
      "pt_inception-2015-12-05-6726825d.pth against --no-advas --n-critic 1 / 2 / 5 (about 4 GPU-hours)")),
    ("AdvAs", "CelebA figure", "on CelebA the FID falls faster early and ends 7.5 % lower",
     ("not testable", "the paper's StyleGAN2 on CelebA: no script here has a StyleGAN")),
    ("AdvAs", "the n_adv slides", "the help is largest where the critic is furthest from its optimum (few critic "
     "steps), per iteration", ("restated", "advas")),
    ("AdvAs", "the estimator slides", "X . X' of two independent gradient estimates is an unbiased estimate of the "
     "squared norm, ‖X‖² is biased", ("computed", "two-estimates")),
    ("AdvAs", "the lambda slides", "a fixed lambda_AdvAs too large destabilises training; lambda = min(1, "
     "‖g_orig‖ / ‖g_AdvAs‖) removes the hyperparameter",
     ("part", "advas-lambda")),
]
OUTSIDE = [  # rows that test a claim from outside the seeds, or this project's own observation
    ("the DRAGAN paper (not a seed)", "Section 5, toys", "a GAN without the penalty drops modes on the toy mixtures; "
     "with DRAGAN's penalty near the data it keeps them", ("part", "modes")),
    ("this project", "the blog study", "SLOGAN's iteration is cheaper (no input gradients)", ("restated", "slogan")),
]
# Earlier studies restated by their summary numbers (mean, std with ddof 0 as they were reported, seeds): the rule
# applied through Welch's test from those statistics. docs/results.md gives their commands and machines.
RESTATED = {
    "blog": ("swiss roll W1 after 500 iterations in the notebook's setting (`python benchmarks/study.py blog --width "
             "512 --iters 500 --datasets swissroll`)", "lower",
             ("one-sided", 0.134, 0.008, 3), [("two-sided", 1.114, 0.095, 3)], ("SLOGAN", 0.137, 0.007, 3)),
    "dragan": ("swiss roll W1 after 500 iterations, the same study", "lower", ("one-sided", 0.134, 0.008, 3),
               [], ("DRAGAN (improved noise)", 0.529, 0.048, 3)),
    "slogan": ("seconds per 1,000 iterations, the same study", "lower", ("SLOGAN", 536, 105, 3),
               [("one-sided", 1037, 243, 3), ("two-sided", 1029, 163, 3)], None),
    "advas": ("25 Gaussians W1 after 2,000 iterations, 1 critic step (`python benchmarks/study.py advas`)", "lower",
              ("AdvAs", 0.486, 0.058, 3), [("WGAN-GP", 1.181, 0.427, 3)], None),
}
# The same AdvAs study at 1 and 5 critic steps, (mean, std with ddof 0, seeds) of the final W1: "the help is largest
# where the critic is furthest from its optimum" is an interaction, the help (WGAN-GP's W1 - AdvAs's) at 1 critic
# step against the help at 5.
ADVAS_HELP = {1: {"WGAN-GP": (1.181, 0.427, 3), "AdvAs": (0.486, 0.058, 3)},
              5: {"WGAN-GP": (0.273, 0.014, 3), "AdvAs": (0.291, 0.005, 3)}}


def interaction(cells):
    """(difference of the two differences, its standard error, Welch-Satterthwaite df, two-sided p) from four
    independent arms' (mean, sample std, n): (a1 - b1) - (a2 - b2)."""
    from scipy import stats
    (a1, b1), (a2, b2) = cells
    diff = (a1[0] - b1[0]) - (a2[0] - b2[0])
    se, df = satterthwaite([(c[1] ** 2, c[2]) for c in (a1, b1, a2, b2)])
    return diff, se, df, float(2 * stats.t.sf(abs(diff / se), df))


def advas_help_verdict():
    """The interaction test of the n_adv claim: (where, measured, verdict, p)."""
    sd = lambda m, s0, k: (m, s0 * np.sqrt(k / (k - 1)), k)  # ddof 0 -> ddof 1
    cells = [(sd(*ADVAS_HELP[n]["WGAN-GP"]), sd(*ADVAS_HELP[n]["AdvAs"])) for n in (1, 5)]
    diff, se, df, p = interaction(cells)
    helps = [c[0][0] - c[1][0] for c in cells]
    v = "holds" if p < ALPHA and diff > 0 else "does not hold" if p < ALPHA else "undecided at this size"
    needed = seeds_for_effect(abs(diff), np.sqrt(sum(c[1] ** 2 for pair in cells for c in pair) / 2))
    note = to_decide(v, p, 3, None, needed)
    return ("the help at 1 critic step vs at 5", f"the help (WGAN-GP's final W1 - AdvAs's), the same study: 1 critic "
            f"step {helps[0]:.3f}, 5 critic steps {helps[1]:.3f}; difference {diff:.3f} ± {se:.3f} (standard error, "
            f"df {df:.1f}){note}", v, p)


def restated_verdicts(key):
    """[(where, measured, verdict, p)] of a restated study: its favoured arm against each other arm, and for
    "dragan" (DRAGAN slower) the other way round; SLOGAN also against the one-sided penalty (same W1 claimed)."""
    from scipy.stats import ttest_ind_from_stats
    what, better, (name, m, s, n), others, extra = RESTATED[key]
    sd = lambda s0, k: s0 * np.sqrt(k / (k - 1))  # ddof 0 -> ddof 1
    out = []
    pairs = [((name, m, s, n), o) for o in others]
    if key == "dragan":
        pairs = [(extra, (name, m, s, n))]
        better = "higher"  # the claim: DRAGAN's W1 is higher (slower) than the one-sided penalty's
    elif extra:  # "the one-sided penalty and SLOGAN do": SLOGAN against the same arms
        pairs += [(extra, o) for o in others]
    for (name, m, s, n), (other, m2, s2, n2) in pairs:
        p = float(ttest_ind_from_stats(m, sd(s, n), n, m2, sd(s2, n2), n2, equal_var=False).pvalue)
        good = (m < m2) if better == "lower" else (m > m2)
        v = "holds" if p < ALPHA and good else "does not hold" if p < ALPHA else "undecided at this size"
        note = to_decide(v, p, n, None, seeds_for_effect(abs(m - m2), np.sqrt((sd(s, n) ** 2 + sd(s2, n2) ** 2) / 2)))
        out.append((f"{name} vs {other}", f"{what}: {m} ± {sd(s, n):.3g} vs {m2} ± {sd(s2, n2):.3g}{note}", v, p))
    if key == "advas":  # the claim is the interaction; AdvAs against WGAN-GP at 1 critic step supports it
        out = [advas_help_verdict()] + [(where + SUPPORTING[0], *rest) for where, *rest in out]
    elif len(out) > 1:  # one claim, several comparisons: decided jointly
        out = [(where + SUPPORTING[1], *rest) for where, *rest in out] + [
            (" and ".join(where for where, *_ in out) + ", jointly", *joint_row([(v, p) for _, _, v, p in out]))]
    return out


# ---- claims decided by a computation of seconds (exact, or Monte-Carlo with seeds) ----------------------------------

def parallel_lines():
    """The survey's two parallel lines: P_0 uniform on {0} x [0, 1], P_theta on {theta} x [0, 1], each as 1,000
    equal atoms. The JS divergence from the two mass functions over the union of their atoms, W1 by the exact optimal
    assignment of the atoms. The claim: JS = log 2 for every theta != 0 (and 0 at theta = 0), W1 = abs(theta)."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist
    z = (np.arange(1000) + 0.5) / 1000
    results, ok = [], True
    for theta in (1.0, 0.1, 0.01, 0.001, 0.0):
        p_atoms, q_atoms = np.stack([np.zeros_like(z), z], 1), np.stack([np.full_like(z, theta), z], 1)
        atoms = {tuple(a) for a in np.concatenate([p_atoms, q_atoms])}
        p = np.array([1e-3 if a[0] == 0.0 else 0.0 for a in atoms])
        q = np.array([1e-3 if a[0] == theta else 0.0 for a in atoms])
        m = (p + q) / 2
        js = 0.5 * np.sum(p[p > 0] * np.log(p[p > 0] / m[p > 0])) + 0.5 * np.sum(q[q > 0] * np.log(q[q > 0] / m[q > 0]))
        cost = cdist(p_atoms, q_atoms)
        w1 = cost[linear_sum_assignment(cost)].mean()
        ok &= abs(js - (np.log(2) if theta else 0.0)) < 1e-12 and abs(w1 - theta) < 1e-9
        results.append(f"theta {theta:g}: JS {js:.6f}, W1 {w1:.6g}")
    return [("exact", "; ".join(results) + f" (log 2 = {np.log(2):.6f})", "holds" if ok else "does not hold", None)]


def two_estimates(seeds=5, trials=4000, batch=16):
    """AdvAs's estimator: for a least-squares loss over 4,096 fixed points, X and X' are the gradients of two
    independent minibatches of 16 and g the full gradient. Per seed (`trials` draws each), the relative bias of
    X . X' and of ||X||^2 as estimates of ||g||^2. Claim: X . X' unbiased (its 90 % interval within +-2 % of
    ||g||^2, a margin stated in advance), ||X||^2 biased upwards (a one-sample t-test)."""
    from scipy import stats
    rng = np.random.RandomState(0)
    a, w_true = rng.randn(4096, 8), rng.randn(8)
    b = a @ w_true + rng.randn(4096)
    w = np.zeros(8)
    per_point = 2 * (a @ w - b)[:, None] * a  # each point's gradient of (a.w - b)^2
    g = per_point.mean(0)
    dot_bias, square_bias = [], []
    for seed in range(1, seeds + 1):
        r = np.random.RandomState(seed)
        x = per_point[r.randint(4096, size=(trials, batch))].mean(1)
        x2 = per_point[r.randint(4096, size=(trials, batch))].mean(1)
        dot_bias.append(np.mean((x * x2).sum(1)) / (g @ g) - 1)
        square_bias.append(np.mean((x * x).sum(1)) / (g @ g) - 1)
    half = stats.t.ppf(0.95, seeds - 1) * np.std(dot_bias, ddof=1) / np.sqrt(seeds)
    unbiased = abs(np.mean(dot_bias)) + half < 0.02
    p = float(stats.ttest_1samp(square_bias, 0.0).pvalue)
    biased = p < ALPHA and np.mean(square_bias) > 0
    v = "holds" if unbiased and biased else "does not hold" if p < ALPHA and np.mean(square_bias) < 0 else \
        "undecided at this size"
    return [("Monte-Carlo", f"relative bias over {seeds} seeds of {trials} draws: X . X' {spread(dot_bias, 4)} "
             f"(90 % interval +-{half:.4f}), ‖X‖² {spread(square_bias, 3)}", v, p)]


def ngram_bias(seeds=5):
    """FOGAN's n-gram JSD is biased at small samples: the 4-gram JSD of held-out corpus lines (real text, a perfect
    generator) against the training lines, at 64 and at 1,024 lines, 5 random draws each. Claim: higher at 64."""
    import common
    corpus = common.load_text()
    reference = common.NgramReference(corpus["train"], corpus["vocab_size"], 4)
    heldout = corpus["heldout"]
    js = {}
    for n in (64, 256, 1024):
        js[n] = [reference.jsd(heldout[np.random.RandomState(seed).choice(len(heldout), n, replace=False)], 4)
                 for seed in range(1, seeds + 1)]
    v, p = verdict(js[64], js[1024], "higher")
    return [("embedded corpus, held-out lines", ", ".join(f"{n} lines {spread(js[n], 3)}" for n in js), v, p)]


def saturation(seeds=5, steps=500, batch=64):
    """The survey's saturated discriminator: real points from 8 Gaussians, a collapsed generator's points from
    N(0, 0.05^2) at their centre. Per seed, a standard GAN discriminator D = sigmoid(f) (cross-entropy, GAN eq. 1)
    and a WGAN-GP critic (eq. 3, lambda 10), the project's toy MLP at width 64 in float64, each trained `steps` Adam
    steps (lr 1e-3, betas 0.5, 0.9: long enough for D to saturate) on the same batches; then the mean norm, over
    1,000 generated points, of the gradient the generator receives: grad_x log(1 - D(x)) (the minimax loss) and
    grad_x f(x) (WGAN). The claim: the WGAN critic's gradient is the larger (in log10, by the rule's Welch test)."""
    import torch
    import common
    import wgangp
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # numbers that do not depend on the thread count
    norms, d_fake = {"GAN": [], "WGAN-GP": []}, []
    try:
        for seed in range(1, seeds + 1):
            rng = np.random.RandomState(seed)
            batches = [(torch.tensor(common.toy_batch("8gaussians", batch, rng)), 0.05 * torch.tensor(
                rng.randn(batch, 2))) for _ in range(steps)]
            probe = (0.05 * torch.tensor(rng.randn(1000, 2))).requires_grad_(True)
            for arm in norms:
                torch.manual_seed(seed)
                net = common.mlp(2, 1, width=64).double()
                opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.9))
                for real, fake in batches:
                    if arm == "GAN":  # -E log D(x) - E log(1 - D(G(z))), D = sigmoid(f)
                        loss = torch.nn.functional.softplus(-net(real)).mean() + torch.nn.functional.softplus(
                            net(fake)).mean()
                    else:
                        loss = wgangp.critic_loss(net, real, fake, lam=10.0)[0]
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                # the generator's loss per point: log(1 - D(x)) = -softplus(f(x)) (minimax), -f(x) (WGAN)
                f = net(probe)
                out = -torch.nn.functional.softplus(f) if arm == "GAN" else -f
                grad, = torch.autograd.grad(out.sum(), probe)
                norms[arm].append(float(np.log10(grad.norm(dim=1).mean().item())))
                if arm == "GAN":
                    d_fake.append(float(torch.sigmoid(f.detach()).mean()))
    finally:
        torch.set_num_threads(threads)
    v, p = verdict(norms["WGAN-GP"], norms["GAN"], "higher")
    return [(f"{seeds} seeds, {steps} discriminator steps", f"D on the generated points {spread(d_fake, 1, 'e')} "
             f"(saturated); log10 of the generator's mean gradient norm: GAN (minimax) {spread(norms['GAN'], 1)}, "
             f"WGAN-GP {spread(norms['WGAN-GP'], 1)}", v, p)]


def diracs():
    """The penalised divergence between two Diracs, in the form this project implements (docs/fidelity.md,
    METHODS.md): sup over d = f(x) - f(x') of d - lambda d^2 / |theta| (theta = x - x'), maximised numerically for
    several theta and lambda; beside it the same without the 1/|theta| normalisation (d - lambda d^2)."""
    from scipy.optimize import minimize_scalar
    proportional, constant = True, True
    for lam in (0.5, 1.0, 2.0):
        for theta in (0.1, 1.0, 10.0):
            best = minimize_scalar(lambda d: -(d - lam * d * d / theta), bounds=(0, 100 * theta), method="bounded",
                                   options={"xatol": 1e-12})
            value, slope = -best.fun, best.x / theta
            plain = -minimize_scalar(lambda d: -(d - lam * d * d), bounds=(0, 100), method="bounded",
                                     options={"xatol": 1e-12}).fun
            proportional &= abs(value - theta / (4 * lam)) < 1e-6 * theta and abs(slope - 1 / (2 * lam)) < 1e-5
            constant &= abs(plain - 1 / (4 * lam)) < 1e-6
    measured = ("exact optimum for theta 0.1, 1, 10 and lambda 0.5, 1, 2: value theta / (4 lambda) "
                f"{'at every point' if proportional else 'NOT at every point'} (proportional to W1 = theta; "
                "equal to it at lambda 1/4), optimal slope 1 / (2 lambda) whatever theta; without the 1/abs(theta) normalisation "
                f"the value is 1 / (4 lambda) {'at every theta' if constant else 'NOT at every theta'} (it does not "
                "follow W1). The seed's text has lost Eq. 6's formula, so its constants cannot be checked")
    return [("exact", measured, "not testable here", None)]


COMPUTED = {"parallel-lines": parallel_lines, "two-estimates": two_estimates, "ngram-bias": ngram_bias,
            "saturation": saturation, "diracs": diracs}


REFRESHED = set()


def computed_results(docs, refresh=False):
    """Each computed claim's rows [(where, measured, verdict, p)], kept in docs/claims/computed.json: computed again
    when `refresh` (every summary) or missing, read from the file otherwise (the suite checks the ledger against it)."""
    path = os.path.join(docs, "claims", "computed.json")
    saved = json.load(open(path)) if os.path.exists(path) else {}
    todo = [name for name in COMPUTED if (refresh and path not in REFRESHED) or name not in saved]
    REFRESHED.add(path)  # once a process
    for name in todo:
        saved[name] = [list(row) for row in COMPUTED[name]()]
    if todo:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, lambda f: json.dump(saved, f, indent=1, ensure_ascii=False))
    return saved


COMPUTED_ON = {"wgangp": ["parallel-lines", "saturation"], "fogan": ["diracs", "ngram-bias"],
               "advas": ["two-estimates"]}  # the method section of docs/claims.md that shows each computed claim


def computed_table(names, computed):
    """The rows of the computed claims `names` as a table for their method's section of docs/claims.md."""
    claim_of = {detail: claim for _, _, claim, (kind, detail) in CLAIMS if kind == "computed"}
    return "\n".join(["| claim | computation | measured | verdict | p |", "|---|---|---|---|---|"] + [
        f"| {claim_of[name]} | `claims.py` `{COMPUTED[name].__name__}`: {where} | {measured} | **{v}** | {p_text(p)} |"
        for name in names for where, measured, v, p in computed[name]])


def claim_list(verdicts, computed):
    """The ledger's list of claims: seed, place, claim, how it is tested, and the verdict(s) (from `verdicts`:
    claim id -> [(where, verdict, p)]; `computed`: `computed_results`)."""
    kinds = ["not run" if kind == "part" and not verdicts.get(detail) else "not testable" if kind == "computed" and all(
        row[2] == "not testable here" for row in computed[detail]) else kind for _, _, _, (kind, detail) in CLAIMS]
    lines = [f"{len(CLAIMS)} empirical claims of the seeds: {len(kinds) - kinds.count('not run') - kinds.count('not testable')} "
             f"with a verdict from runs or computations here, {kinds.count('not run')} that fit a CPU and are not run "
             f"yet (undecided), {kinds.count('not testable')} not testable here; and {len(OUTSIDE)} rows from outside "
             "the seeds.", "", "| # | seed | where | claim | tested | verdict |", "|---|---|---|---|---|---|"]
    numbered = [(i + 1, *c) for i, c in enumerate(CLAIMS)] + [("-", *c) for c in OUTSIDE]
    for number, seed, place, claim, (kind, detail) in numbered:
        if kind == "part":
            found = [r for r in verdicts.get(detail, []) if not r[0].endswith(SUPPORTING)]
            tested = f"here: `claims.py {PART_OF.get(detail, detail)}`"
            verdict_text = "; ".join(f"**{v}** ({where}, {p_text(p)})" for where, v, p in found) or \
                "not run yet: undecided"
        elif kind == "computed":
            found = computed[detail]
            tested = f"here, a computation of seconds (`claims.py` `{COMPUTED[detail].__name__}`): {found[0][1]}"
            verdict_text = "; ".join(f"**{v}** ({where}, {p_text(p)})" for where, _, v, p in found)
        elif kind == "restated":
            tested = "here, an earlier study (docs/results.md)"
            verdict_text = "; ".join(f"**{v}** ({where}, {p_text(p)})" for where, _, v, p in restated_verdicts(detail)
                                     if not where.endswith(SUPPORTING))
        elif kind == "not run":
            tested, verdict_text = f"fits a CPU, not run yet: {detail}", "undecided (not run)"
        else:
            tested, verdict_text = f"needs {detail}", "**not testable here**"
        lines.append(f"| {number} | {seed} | {place} | {claim} | {tested} | {verdict_text} |")
    return "\n".join(lines)


PART_OF = {"fig1a": "surfaces", "fig1b": "gradients", "loss": "loss", "fig3-toy": "loss", "dragan-levels": "prodgan"}


def all_verdicts(docs):
    """claim id -> [(where, verdict, p)] from every part's CSV under docs/claims/."""
    verdicts = {}
    for part in PARTS:
        path = os.path.join(docs, "claims", f"{part}.csv")
        table = load_numbers(path)
        if table:
            for cid, where, _, v, p in summary_rows(part, table)[1]:
                verdicts.setdefault(cid, []).append((where, v, p))
    return verdicts


def summarise(part, docs, csv_path, out, smoke):
    """The part's table and verdicts (printed, and into docs/claims.md's block for it), and its figure."""
    table = load_numbers(csv_path)
    meta_path = csv_path[:-4] + ".json"
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    if not table:
        print(f"\n{part}: no numbers yet ({csv_path}); run `python benchmarks/claims.py {part}`")
        return
    missing = [f"{k}: {sorted(set(m['seeds']) - set(v))}" for m in meta.values() for k, v in m["runs"].items()
               if set(m["seeds"]) - set(v)]
    FIGURES.get(part, figure_curves)(part, table, out, docs, meta, smoke)
    block, _ = markdown(part, table, meta, docs)
    print(f"\n## {part}\n\n{block}")
    if missing:
        print(f"\n({part}: seeds without a finished run: {'; '.join(missing)})")
    update_docs(docs, {part: block})


def iterations(p):
    """A part's iterations as the size table says them: "1000", or "1000 (25gaussians 10000)"."""
    own = [f"{d} {p.size(d)[0]}" for d in p.datasets if p.size(d)[0] != p.iters]
    return f"{p.iters}" + (f" ({', '.join(own)})" if own else "")


def size_table(docs):
    """The whole ledger's size: each part's runs and iterations, and its wall-clock as measured (each dataset's
    command from its JSON) or, not run yet, as estimated; the sum."""
    lines = ["| part | runs | iterations | wall-clock on 2 cores |", "|---|---|---|---|"]
    total = 0.0
    for name, p in PARTS.items():
        path = os.path.join(docs, "claims", f"{name}.json")
        meta = json.load(open(path)) if os.path.exists(path) else {}
        runs = p.runs()
        meta = {d: m for d, m in meta.items() if d in p.datasets and m["iters"] == p.size(d)[0]}  # at this size
        commands = {m["command"]: m for m in meta.values()}.values()  # one command may have run several datasets
        work = sum(len(p.arms) * p.size(d)[1] * p.size(d)[0] for d in p.datasets)  # run-iterations in all
        if meta:  # a command that also ran a dataset at another size counts in proportion to its runs here
            done = done_work = minutes = 0
            for m in commands:
                here = {key: min(len(seeds), p.size(key.rsplit(" / ", 1)[1])[1]) for key, seeds in m["runs"].items()
                        if key.rsplit(" / ", 1)[1] in meta}
                done += sum(here.values())
                done_work += sum(n * m["iters"] for n in here.values())
                minutes += m["wall_clock_s"] / 60 * sum(here.values()) / max(sum(map(len, m["runs"].values())), 1)
            workers = "/".join(sorted({str(m["workers"]) for m in commands}))
            how = f"{minutes:.0f} min measured for {done} of the runs, {workers} at a time"
        else:
            minutes, how = p.minutes, f"~{p.minutes} min estimated, 2 at a time (not run yet)"
        total += minutes * work / done_work if meta and done_work else minutes  # measured in part: scaled up
        lines.append(f"| {name} | {runs} | {iterations(p)} | {how} |")
    return (f"`python benchmarks/claims.py all` runs every part at the size below (about {total / 60:.0f} hours of "
            "this 2-core machine; a part's own command, e.g. `claims.py loss`, runs one):\n\n" + "\n".join(lines))


def update_docs(docs, blocks):
    """Rewrites the blocks of docs/claims.md (each part's, the rule, the claim list) and README.md's claim list."""
    claims_md = os.path.join(docs, "claims.md")
    if not os.path.exists(claims_md):
        return
    restated = lambda keys: "\n".join(["| claim | arms | measured | verdict | p |", "|---|---|---|---|---|"] + [
        f"| {key} | {where} | {measured} | **{v}** | {p_text(p)} |" for key in keys
        for where, measured, v, p in restated_verdicts(key)])
    computed = computed_results(docs, refresh=True)
    blocks = {**blocks, "rule": RULE, "claims": claim_list(all_verdicts(docs), computed), "size": size_table(docs),
              **{f"computed-{method}": computed_table(names, computed) for method, names in COMPUTED_ON.items()},
              "restated-lernapparat": restated(["blog", "dragan", "slogan"]), "restated-advas": restated(["advas"])}
    for path in (claims_md, os.path.join(os.path.dirname(os.path.abspath(docs)), "README.md")):
        if not os.path.exists(path):
            continue
        text = open(path).read()
        new = text
        for name, body in blocks.items():
            new = replace_block(new, name, body)
        if new != text:
            write_atomically(path, lambda f: f.write(new))


# ---- the command line -------------------------------------------------------------------------------------------

def parts_help():
    lines = ["parts (default size; minutes on 2 cores, two runs side by side):"]
    for name, p in PARTS.items():
        lines.append(f"  {name:15s} {p.what}; {p.runs()} runs of {iterations(p)} iterations, ~{p.minutes} min")
    return "\n".join(lines)


def positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: at least 1")
    return value


def groups(part, datasets, args):
    """[((iterations, seeds), datasets)]: the chosen datasets grouped by their size (Part.size, the command line's
    --iters / --seeds first; --smoke: 2 iterations)."""
    out = {}
    for d in datasets:
        iters, seeds = part.size(d, args.iters, args.seeds)
        out.setdefault((2 if args.smoke else iters, seeds), []).append(d)
    return list(out.items())


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
    parser.add_argument("--smoke", action="store_true", help="every arm at a tiny size on the part's first dataset, "
                                                             "to check that it runs")
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
        chosen = args.datasets.split(",") if args.datasets else list(PARTS[name].datasets)[:1 if args.smoke else None]
        wrong = [d for d in chosen if d not in PARTS[name].datasets]
        if wrong:
            parser.error(f"--datasets {wrong[0]}: part {name} runs on {', '.join(PARTS[name].datasets)}")
        datasets[name] = chosen
    if args.summary_only and (args.iters or args.eval_every):
        parser.error("--summary-only reads the committed numbers; --iters / --eval-every are for training")
    os.makedirs(os.path.join(docs, "claims"), exist_ok=True)
    if args.smoke and not args.summary_only:  # every part's tiny runs in one pool: the workers never wait
        train([job for name in names for (_, n), chosen in groups(PARTS[name], datasets[name], args)
               for job in plan(out, name, list(range(1, n + 1)), chosen, 2, 2, True)], args.workers)
    for name in names:
        part = PARTS[name]
        csv_path = os.path.join(docs, "claims", f"{name}.csv")
        for (iters, n_seeds), chosen in ([] if args.summary_only else groups(part, datasets[name], args)):
            seeds = list(range(1, n_seeds + 1))
            eval_every = 2 if args.smoke else min(args.eval_every or part.eval_every, iters)
            jobs = plan(out, name, seeds, chosen, iters, eval_every, args.smoke)
            print(f"{name}: {len(jobs)} runs to do ({len(seeds)} seeds, {iters} iterations"
                  + (f", {', '.join(chosen)})" if len(chosen) < len(part.datasets) else ")"), flush=True)
            started = time.time()
            train(jobs, args.workers)
            records, found = collect(name, out, seeds, chosen, iters, eval_every, args.smoke)
            command = f"python benchmarks/claims.py {name}" + ("" if args.smoke else f" --iters {iters}") + (
                f" --seeds {len(seeds)}") + (
                f" --datasets {','.join(chosen)}" if len(chosen) < len(part.datasets) else "") + (
                " --smoke" if args.smoke else "")
            meta = {"command": command, "iters": iters, "eval_every": eval_every, "seeds": seeds,
                    "wall_clock_s": round(time.time() - started), "workers": args.workers, "machine": machine(),
                    "runs": {f"{arm} / {d}": s for (arm, d), s in found.items()}}
            save_numbers(csv_path, records, chosen, meta)
        summarise(name, docs, csv_path, out, args.smoke)
    update_docs(docs, {})  # the claim list from every part's numbers


if __name__ == "__main__":
    main()
