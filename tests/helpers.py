"""Test helpers: running a script, hand-checkable critics, a tiny One Billion Word folder, plain n-gram counting."""
import collections
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = ["--dataset", "8gaussians", "--width", "8", "--batch-size", "8", "--eval-samples", "20"]  # a tiny run's flags


def run_script(script, *argv, cwd=ROOT):
    """`python ROOT/script argv...` in a fresh process (script: a file name in the project or a path)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def message_lines(stderr):
    """The lines of stderr that are messages: progress bars, warnings and blank lines aside."""
    return [line for line in stderr.splitlines() if line.strip() and "it/s" not in line and "%|" not in line
            and not line.startswith("warning:")]


def assert_one_error_line(result, message):
    """Exit status 2 and exactly one `error:` line on stderr holding `message` (progress bars and warnings aside)."""
    lines = message_lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr


def cli(main, argv):
    """common.run_cli in-process: the exit status."""
    import common
    with pytest.raises(SystemExit) as exit_:
        common.run_cli(lambda: main(argv))
    return exit_.value.code


def linear_critic(w, output_shape=()):
    """f(x) = w . flatten(x), returned with shape (B, *output_shape): (), (1,) or (1, 1, 1) per sample."""
    layer = nn.Linear(w.numel(), 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(w.reshape(1, -1))
    return nn.Sequential(nn.Flatten(), layer, nn.Unflatten(1, output_shape or (1,)),
                         *([nn.Flatten(0)] if not output_shape else []))


def quadratic_critic():
    """f(x) = 0.5 ||x||^2, so grad f(x) = x."""
    class Quadratic(nn.Module):
        def forward(self, x):
            return 0.5 * x.flatten(1).pow(2).sum(1)
    return Quadratic()


def write_billion_word(root, lines, heldout=None):
    train = root / "training-monolingual.tokenized.shuffled"
    train.mkdir(parents=True)
    half = len(lines) // 2
    (train / "news.en-00001-of-00100").write_text("\n".join(lines[:half]) + "\n")
    (train / "news.en-00002-of-00100").write_text("\n".join(lines[half:]) + "\n")
    if heldout:
        folder = root / "heldout-monolingual.tokenized.shuffled"
        folder.mkdir()
        (folder / "news.en.heldout-00000-of-00050").write_text("\n".join(heldout) + "\n")


def ngram_counts_slow(lines, n):
    """Overlapping character n-grams of each line (padding counts): Counter of strings. Plain and slow."""
    return collections.Counter(line[i:i + n] for line in lines for i in range(len(line) - n + 1))


def ngram_jsd(samples, reference, n):
    """Jensen-Shannon divergence in bits between the character n-gram distributions of two lists of strings,
    as in the WGAN-GP/FOGAN language code: 0.5 * (KL(p||m) + KL(q||m)) / ln 2, m = (p + q) / 2, each KL
    summed over its own model's n-grams."""
    p_counts, q_counts = ngram_counts_slow(samples, n), ngram_counts_slow(reference, n)
    p_total, q_total = sum(p_counts.values()), sum(q_counts.values())
    if p_total == 0 or q_total == 0:
        raise ValueError(f"no {n}-grams: lines shorter than {n}")
    kl_p = sum(c / p_total * math.log(2 * (c / p_total) / (c / p_total + q_counts.get(g, 0) / q_total))
               for g, c in p_counts.items())
    kl_q = sum(c / q_total * math.log(2 * (c / q_total) / (c / q_total + p_counts.get(g, 0) / p_total))
               for g, c in q_counts.items())
    return 0.5 * (kl_p + kl_q) / math.log(2)


def final_state(run_dir):
    """A run's checkpoint.pt as a dict (our own file: every object in it is ours)."""
    return torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)


def bf16(x):
    """x rounded to bfloat16 and back."""
    return x.bfloat16().float()
