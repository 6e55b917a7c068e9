"""A metric of several runs against iterations and wall-clock seconds (the papers' comparison figures).

    python benchmarks/plot.py w1 w1.png runs/wgangp__swissroll__* runs/slogan__swissroll__*
    python benchmarks/plot.py js4 js4.png fogan=runs/fogan_text__text__1__* wgan-gp=runs/wgangp__text__1__*

Runs are grouped by script and dataset (or by the LABEL= given before a run); a group of several runs draws each
run thin and its mean with a min-max band.
"""
import collections
import contextlib
import json
import os
import sys
import textwrap

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402


def read_metrics(run_dir):
    """The rows of a run's metrics.csv that are whole rows (common.read_metrics_rows: undecodable bytes, stray
    carriage returns, torn or foreign lines left out)."""
    return common.read_metrics_rows(os.path.join(run_dir, "metrics.csv"))


def number(value):
    """A metrics.csv value as a finite float, or None (empty, "nan", text)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


NOT_A_SETTING = ("seed", "run_name", "resume", "runs_dir", "cache_dir", "device", "threads", "log_every", "run",
                 "resumes", "data_root", "checkpoint_minutes")
# settings that make another method of the same script: always in the label when not the script's own
VARIANTS = {"mode": "wgan-gp", "one_sided": False, "fixed_generator": False, "advas": True, "two_sided": False}


def run_settings(run_dir):
    """args.json of a run ({} when it cannot be read), and its script, dataset and seed (else from the folder name)."""
    settings = {}
    with contextlib.suppress(OSError, ValueError, RecursionError):  # unreadable, not JSON, nested past Python's stack
        with open(os.path.join(run_dir, "args.json"), encoding="utf-8") as f:
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
        differ = sorted(k for k in settings if k not in NOT_A_SETTING and (any(
            p.get(k) != settings[k] for p in peers) or (k in VARIANTS and settings[k] != VARIANTS[k])))
        groups.append((" ".join([script, dataset] + [f"{k}={settings[k]}" for k in differ]), seed))
    return groups


def plot_runs(runs, metric, path, title=None, bayes=None):
    """One figure, two panels: `metric` against iterations and against wall-clock seconds. `runs`: (label or
    None, run_dir) pairs; runs are grouped by label (default: script and dataset). Each run is a thin line with
    markers; a group with several finished runs adds their mean (thick) and min-max band, taken only at the
    iterations every one of them has. What is left out (a run given twice, runs without the metric, unfinished
    runs, iterations not all runs have) is said in a warning line each."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    seen, unique = set(), []
    for label, run_dir in runs:
        if os.path.realpath(run_dir) in seen:
            warn(f"{run_dir} given twice: drawn once")
            continue
        seen.add(os.path.realpath(run_dir))
        unique.append((label, run_dir))
    groups, without = collections.defaultdict(list), []
    for (label, run_dir), (name, seed) in zip(unique, run_groups([run_dir for _, run_dir in unique])):
        given = [r for r in read_metrics(run_dir) if r.get(metric) not in (None, "")]
        rows = [r for r in given if number(r[metric]) is not None and number(r.get("seconds")) is not None]
        if len(rows) < len(given):
            warn(f"{run_dir}: {len(given) - len(rows)} row(s) whose {metric} or seconds is not a number: left out")
        if not rows:
            without.append(run_dir)
            continue
        iters = run_settings(run_dir)[0].get("iters")
        finished = not isinstance(iters, int) or max(int(r["iteration"]) for r in rows) >= iters
        groups[label or name].append((seed, rows, finished, run_dir))
    if not groups:
        have = sorted({k for _, run_dir in unique for r in read_metrics(run_dir)[:1] for k in r} - {"iteration", "seconds"})
        common.fail(f"no run has the metric {metric!r}; these runs have: {', '.join(have) or 'no metrics yet'}")
    if without:
        warn(f"no {metric} in {', '.join(without)}: left out")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (name, members) in zip(colours * 4, sorted(groups.items())):
        seeds = sorted({str(seed) for seed, *_ in members})
        label = f"{name} ({len(members)} run{'s' * (len(members) > 1)}, seed{'s' * (len(seeds) > 1)} {', '.join(seeds)})"
        for seed, rows, finished, run_dir in members:
            for ax, x in zip(axes, ("iteration", "seconds")):
                ax.plot([float(r[x]) for r in rows], [float(r[metric]) for r in rows], color=colour, marker="o",
                        ms=3, lw=0.8, alpha=0.35 if len(members) > 1 else 0.9, ls="-" if finished else ":",
                        label=label if len(members) == 1 and ax is axes[0] else None)
        done = [rows for _, rows, finished, _ in members if finished]
        if len(done) < len(members):
            warn(f"{name}: {len(members) - len(done)} unfinished run(s) drawn dotted, not in the mean")
        if len(done) > 1:  # mean and min-max band at the iterations every finished run has
            shared = sorted(set.intersection(*({int(r["iteration"]) for r in rows} for rows in done)))
            extra = sorted(set.union(*({int(r["iteration"]) for r in rows} for rows in done)) - set(shared))
            if extra:
                warn(f"{name}: the mean leaves out iterations not every run has: {', '.join(map(str, extra[:10]))}"
                     + (" ..." if len(extra) > 10 else ""))
            at = [{int(r["iteration"]): r for r in rows} for rows in done]
            values = [[float(a[i][metric]) for a in at] for i in shared]
            seconds = [float(np.mean([float(a[i]["seconds"]) for a in at])) for i in shared]
            for ax, x in zip(axes, (shared, seconds)):
                ax.fill_between(x, [min(v) for v in values], [max(v) for v in values], color=colour, alpha=0.15,
                                lw=0)
                ax.plot(x, [float(np.mean(v)) for v in values], color=colour, marker="o", ms=4, lw=2,
                        label=f"{label}: mean, min-max band" if ax is axes[0] else None)
    if bayes is None:  # a "<metric>_bayes" or "<metric>_floor" column: the floor the papers draw
        first = next(rows[0] for members in groups.values() for _, rows, *_ in members)
        column = next((k for k in (metric + "_bayes", metric + "_floor") if first.get(k) not in (None, "")), None)
        bayes = (float(first[column]), "Bayes limit" if column.endswith("_bayes") else "floor") if column else None
    elif not isinstance(bayes, tuple):
        bayes = (bayes, "Bayes limit")
    for ax, x in zip(axes, ("iterations", "wall-clock seconds")):
        if bayes is not None:
            ax.axhline(bayes[0], color="k", ls="--", lw=1, label=bayes[1] if ax is axes[0] else None)
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    names = sorted(groups)
    heading = f"{metric}: " + " vs ".join(names) if len(names) <= 3 else f"{metric}: {len(names)} groups (legend below)"
    fig.suptitle(textwrap.shorten(title or heading, 140), fontsize=10)
    fig.tight_layout()
    handles, labels = axes[0].get_legend_handles_labels()  # under the panels: long labels never squeeze them
    fig.legend(handles, [textwrap.fill(label, 110) for label in labels], loc="upper center", fontsize=7,
               bbox_to_anchor=(0.5, 0.0), ncol=1 if max(map(len, labels)) > 60 else 2)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


def plot_main(argv=None):
    """python benchmarks/plot.py METRIC OUT.png [LABEL=]RUN_DIR... [--title TITLE]"""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            common.fail(f"{message} (see --help)")
    parser = Parser(prog="python benchmarks/plot.py", description=__doc__.split("\n\n")[0],
                    epilog="Runs are grouped by script and dataset (or by the LABEL= given before a run).")
    parser.add_argument("metric", help="a metrics.csv column, e.g. w1, js4, fd_digits, fid")
    parser.add_argument("out", help="the figure to write: .png, .pdf or .svg, outside every run folder")
    parser.add_argument("runs", nargs="+", metavar="[LABEL=]RUN_DIR")
    parser.add_argument("--title")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    out, runs = args.out, []
    if os.path.isdir(out) or not out.lower().endswith((".png", ".pdf", ".svg")):
        common.fail(f"{out}: the second argument is the figure to write (OUT.png, .pdf or .svg), then the runs")
    for item in args.runs:
        label, _, run_dir = item.rpartition("=") if "=" in item and not os.path.isdir(item) else (None, "", item)
        if not os.path.isfile(os.path.join(run_dir, "metrics.csv")):
            common.fail(f"{run_dir} has no metrics.csv")
        runs.append((label or None, run_dir))
    folder = os.path.realpath(os.path.dirname(os.path.abspath(out)))
    if any(os.path.exists(os.path.join(folder, name)) for name in ("metrics.csv", "args.json", "checkpoint.pt")) or \
            folder in {os.path.realpath(run_dir) for _, run_dir in runs}:
        common.fail(f"{out} is inside a run folder; write the figure elsewhere (nothing is written into a run)")
    plot_runs(runs, args.metric, out, args.title)
    print(f"wrote {out}")


if __name__ == "__main__":
    common.run_cli(plot_main)
