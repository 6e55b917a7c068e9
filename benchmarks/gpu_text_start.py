"""How long the paper-width text start lasts: FOGAN and WGAN-GP (FOGAN's settings: one critic step, Adam 3e-4 /
1e-4, the batch-norm generator) at width 512 for 2,000 iterations, js4 and the collapse scores every 250, on the
embedded corpus (~100 characters) and on the same lines over a 2,048-symbol alphabet (the paper's vocabulary size,
which sets the tflib init scale of the critic's input and the generator's output layers).

    python benchmarks/gpu_text_start.py           # on a CUDA machine: ~6 minutes on one H100
    python benchmarks/gpu_text_start.py --smoke   # the same code paths on the CPU at toy sizes (seconds; tested)

The 2,048-symbol corpus: each character keeps its own symbol, and the most frequent (previous character,
character) pairs get one symbol each until the alphabet holds 2,047 symbols (+ 'unk'), so the lines keep their
structure (a symbol is a function of the text) and the one-hot width is the paper's.
"""
import argparse
import collections
import contextlib
import csv
import io
import os
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common  # noqa: E402
import fogan_text  # noqa: E402
import wgangp  # noqa: E402


def remap_to_alphabet(lines, size=2047):
    """The lines over `size` symbols (padding included): characters, plus one symbol for each of the most frequent
    (previous, current) character pairs (private-use code points), as many pairs as make `size` symbols in all."""
    lines = [line[:common.SEQ_LEN] for line in lines]
    pairs = [pair for pair, _ in collections.Counter(
        (line[i - 1], line[i]) for line in lines for i in range(1, len(line))).most_common()]
    n_pairs = size - len({c for line in lines for c in line} | {common.PAD})
    while True:  # a character seen only inside remapped pairs disappears: take more pairs until `size` symbols
        top = {pair: chr(0xE000 + k) for k, pair in enumerate(pairs[:n_pairs])}
        remapped = ["".join([line[:1]] + [top.get((line[i - 1], line[i]), line[i]) for i in range(1, len(line))])
                    for line in lines]
        found = len({c for line in remapped for c in line} | {common.PAD})
        if found >= size or n_pairs >= len(pairs):
            return remapped
        n_pairs += size - found


def write_corpus(folder, lines):
    shards = os.path.join(folder, "training-monolingual.tokenized.shuffled")
    os.makedirs(shards)
    with open(os.path.join(shards, "news.en-00001-of-00100"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, toy sizes: the same code paths in seconds")
    args = parser.parse_args(argv)
    device = "cpu" if args.smoke else common.pick_device().type
    if device != "cuda" and not args.smoke:
        common.fail("no CUDA device here; run with --smoke for the CPU check of the code paths")
    width, iters, every, samples = ("8", 4, 2, 64) if args.smoke else ("512", 2000, 250, 6400)
    start = time.time()
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}; torch {torch.__version__}; "
          f"width {width}, {iters} iterations, float32\n")
    print("| corpus | method | iteration | seconds | js4 | top_char_share | distinct_lines | js4 Bayes limit |\n"
          "|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        embedded = common.embedded_corpus_lines()
        remapped = write_corpus(os.path.join(tmp, "alphabet2048"), remap_to_alphabet(embedded))
        for corpus, root in (("embedded (~100 chars)", None), ("embedded over 2,048 symbols", remapped)):
            for name, module, flags in (("fogan_text", fogan_text, []), ("wgangp", wgangp, ["--dataset", "text"])):
                argv = flags + ["--width", width, "--iters", str(iters), "--eval-every", str(every), "--eval-samples",
                                str(samples), "--runs-dir", os.path.join(tmp, "runs"), "--device", device,
                                "--generator-batch-norm", "--batch-size", "64"] + (["--data-root", root] if root else [])
                if module is wgangp:  # FOGAN's WGAN-GP baseline settings (run_ttur.sh)
                    argv += ["--n-critic", "1", "--lr-critic", "3e-4", "--lr-generator", "1e-4"]
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    run_dir = module.main(argv)
                with open(os.path.join(run_dir, "metrics.csv")) as f:
                    for row in csv.DictReader(f):
                        print(f"| {corpus} | {name} | {row['iteration']} | {float(row['seconds']):.0f} | "
                              f"{float(row['js4']):.3f} | {float(row['top_char_share']):.3f} | "
                              f"{float(row['distinct_lines']):.3f} | {float(row['js4_bayes']):.3f} |", flush=True)
    print(f"\ngpu_text_start: {time.time() - start:.0f} s in all")


if __name__ == "__main__":
    common.run_cli(main)
