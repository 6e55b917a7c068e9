"""A metric of several runs against iterations and wall-clock seconds (the papers' comparison figures).

    python benchmarks/plot.py w1 w1.png runs/wgangp__swissroll__* runs/slogan__swissroll__*
    python benchmarks/plot.py js4 js4.png fogan=runs/fogan_text__text__1__* wgan-gp=runs/wgangp__text__1__*

Runs are grouped by script and dataset (or by the LABEL= given before a run); a group of several runs draws each
run thin and its mean with a min-max band.
"""
import collections
import contextlib
import csv
import json
import os
import sys
import textwrap

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


NOT_A_SETTING = ("seed", "run_name", "resume", "runs_dir", "cache_dir", "device", "threads", "log_every", "run",
                 "resumes", "data_root")


def run_settings(run_dir):
    """args.json of a run ({} when it cannot be read), and its script, dataset and seed (else from the folder name)."""
    settings = {}
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(run_dir, "args.json")) as f:
            settings = json.load(f)
    settings = settings if isinstance(settings, dict) else {}
    parts = os.path.basename(os.path.normpath(run_dir)).split("__") + ["?", "?"]
    record = settings.get("run") if isinstance(settings.get("run"), dict) else {}
    return settings, record.get("script") or parts[0], settings.get("dataset") or parts[1], settings.get("seed", parts[2])


def run_groups(run_dirs):
    """Each run's group: its script and dataset, and every setting that differs between runs of the same script
    and dataset (`advas.py` and `advas.py --no-advas`, or two run lengths, are two groups, never one mean)."""
    found = [run_settings(d) for d in run_dirs]
    groups = []
    for settings, script, dataset, seed in found:
        peers = [s for s, sc, ds, _ in found if (sc, ds) == (script, dataset)]
        differ = sorted(k for k in settings if k not in NOT_A_SETTING and any(p.get(k) != settings[k] for p in peers))
        groups.append((" ".join([script, dataset] + [f"{k}={settings[k]}" for k in differ]), seed))
    return groups


def plot_runs(runs, metric, path, title=None, bayes=None):
    """One figure, two panels: `metric` against iterations and against wall-clock seconds. `runs`: (label or
    None, run_dir) pairs; runs are grouped by label (default: script and dataset). Each run is a thin line with
    markers; each group with several runs adds its mean (thick) and a min-max band over its runs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = collections.defaultdict(list)
    for (label, run_dir), (name, seed) in zip(runs, run_groups([run_dir for _, run_dir in runs])):
        rows = [r for r in read_metrics(run_dir) if r.get(metric) not in (None, "")]
        groups[label or name].append((seed, rows))
    if not any(rows for members in groups.values() for _, rows in members):
        have = sorted({k for _, run_dir in runs for r in read_metrics(run_dir)[:1] for k in r} - {"iteration", "seconds"})
        common.fail(f"no run has the metric {metric!r}; these runs have: {', '.join(have) or 'no metrics yet'}")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = {name: members for name, members in groups.items() if any(rows for _, rows in members)}
    for colour, (name, members) in zip(colours * 4, sorted(groups.items())):
        seeds = sorted({str(seed) for seed, _ in members})
        label = f"{name} ({len(members)} run{'s' * (len(members) > 1)}, seed{'s' * (len(seeds) > 1)} {', '.join(seeds)})"
        by_iteration = collections.defaultdict(list)
        for seed, rows in members:
            for r in rows:
                by_iteration[int(r["iteration"])].append((float(r["seconds"]), float(r[metric])))
            for ax, x in zip(axes, ("iteration", "seconds")):
                ax.plot([float(r[x]) for r in rows], [float(r[metric]) for r in rows], color=colour, marker="o",
                        ms=3, lw=0.8, alpha=0.35 if len(members) > 1 else 0.9,
                        label=label if len(members) == 1 and ax is axes[0] else None)
        if len(members) > 1:  # mean and min-max band over the runs, per evaluation
            iterations = sorted(by_iteration)
            values = [[v for _, v in by_iteration[i]] for i in iterations]
            seconds = [float(np.mean([s for s, _ in by_iteration[i]])) for i in iterations]
            mean = [float(np.mean(v)) for v in values]
            for ax, x in zip(axes, (iterations, seconds)):
                ax.fill_between(x, [min(v) for v in values], [max(v) for v in values], color=colour, alpha=0.15,
                                lw=0)
                ax.plot(x, mean, color=colour, marker="o", ms=4, lw=2,
                        label=f"{label}: mean, min-max band" if ax is axes[0] else None)
    if bayes is None:  # a "<metric>_bayes" column (text JSD) is the floor the papers draw
        column = [rows[0].get(metric + "_bayes") for members in groups.values() for _, rows in members if rows][:1]
        bayes = float(column[0]) if column and column[0] not in (None, "") else None
    for ax, x in zip(axes, ("iterations", "wall-clock seconds")):
        if bayes is not None:
            ax.axhline(bayes, color="k", ls="--", lw=1, label="Bayes limit" if ax is axes[0] else None)
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(textwrap.fill(title or f"{metric}: " + " vs ".join(sorted(groups)), 130), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_main(argv=None):
    """python benchmarks/plot.py METRIC OUT.png [LABEL=]RUN_DIR... [--title TITLE]: a metric of several runs against
    iterations and wall-clock seconds, grouped by script and dataset, or by the LABEL given before a run."""
    argv = sys.argv[1:] if argv is None else list(argv)
    title = None
    if "--title" in argv:
        at = argv.index("--title")
        if at + 1 >= len(argv):
            common.fail("--title needs a text")
        title = argv[at + 1]
        del argv[at:at + 2]
    if len(argv) < 3:
        common.fail("usage: python benchmarks/plot.py METRIC OUT.png [LABEL=]RUN_DIR [[LABEL=]RUN_DIR ...] [--title TITLE]")
    metric, out, runs = argv[0], argv[1], []
    if os.path.isdir(out) or not out.lower().endswith((".png", ".pdf", ".svg")):
        common.fail(f"{out}: the second argument is the figure to write (OUT.png, .pdf or .svg), then the runs")
    for item in argv[2:]:
        label, _, run_dir = item.rpartition("=") if "=" in item and not os.path.isdir(item) else (None, "", item)
        if not os.path.isfile(os.path.join(run_dir, "metrics.csv")):
            common.fail(f"{run_dir} has no metrics.csv")
        runs.append((label or None, run_dir))
    plot_runs(runs, metric, out, title)
    print(f"wrote {out}")


if __name__ == "__main__":
    common.run_cli(plot_main)