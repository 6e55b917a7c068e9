"""The one-shot GPU check: one command that prints the README's GPU tables (markdown).

    python benchmarks/gpu_check.py            # on a CUDA machine: ~3 minutes on one H100
    python benchmarks/gpu_check.py --smoke    # the same code paths on the CPU at toy sizes (~1 minute; tested)

1. Step time at the papers' sizes (2D toys width 512, DCGAN 64x64 width 64 on digits resized, text ResNet width 512),
   every method in float32 and with --amp bf16, through each script's main(), next to the plain WGAN-GP port and
   the floor of benchmarks/step_time.py (same nets, same batch), with samples/s and each script's peak GPU memory.
(FOGAN vs WGAN-GP on text at the paper's width, with the collapse scores: benchmarks/gpu_text_start.py.)
"""
import argparse
import contextlib
import io
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]
import common  # noqa: E402
import fogan_text  # noqa: E402
import step_time  # noqa: E402
import wgangp  # noqa: E402

SMOKE_SIZES = {"toy": ["--dataset", "swissroll", "--width", "16"],
               "image": ["--dataset", "digits", "--image-size", "32", "--width", "8"],
               "text": ["--dataset", "text", "--width", "8"]}


def peak_memory_mb(device):
    return torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else float("nan")


def step_table(device, smoke):
    sizes = SMOKE_SIZES if smoke else {kind: step_time.SIZES[kind]["paper"] for kind in step_time.SIZES}
    n, warm = (2, 1) if smoke else (20, 5)
    print("| data | method | fp32 ms/iter | bf16 ms/iter | samples/s | plain / fp32 | plain / bf16 | fp32 / floor "
          "| peak MiB fp32 | peak MiB bf16 |\n|---|---|---|---|---|---|---|---|---|---|")
    for kind, flags in sizes.items():
        methods = step_time.METHODS[kind]
        n_critics = [step_time.n_critic_of(module, kind, extra) for _, module, extra in methods]
        plain, floor = step_time.plain_and_floor(kind, flags, device, n, 1, sorted(set(n_critics)))
        for k, ms in plain.items():
            cells(kind, f"plain WGAN-GP ({k} critic)", f"{ms:.1f}", "", "", "1.00", "", f"{ms / floor:.1f}", "", "")
        cells(kind, "floor (critic fwd+bwd)", f"{floor:.1f}", "", "", "", "", "1.0", "", "")
        for (label, module, extra), n_critic in zip(methods, n_critics):
            ms, peaks = [], []
            for amp in ("none", "bf16"):
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                ms.append(step_time.script_ms_per_iteration(module, flags + extra + ["--amp", amp], warm, n, 1))
                peaks.append(peak_memory_mb(device))
            batch = step_time._defaults(module, kind)["batch_size"]
            cells(kind, f"{label} ({n_critic} critic)", f"{ms[0]:.1f}", f"{ms[1]:.1f}", f"{batch * 1000 / min(ms):.0f}",
                  f"{plain[n_critic] / ms[0]:.2f}", f"{plain[n_critic] / ms[1]:.2f}", f"{ms[0] / floor:.1f}",
                  f"{peaks[0]:.0f}", f"{peaks[1]:.0f}")


def cells(*values):
    print("| " + " | ".join(values) + " |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, toy sizes: the same code paths in about a minute")
    args = parser.parse_args(argv)
    device = torch.device("cpu") if args.smoke else common.pick_device()
    if device.type != "cuda" and not args.smoke:
        common.fail("no CUDA device here; run with --smoke for the CPU check of the code paths")
    start = time.time()
    print(f"device: {step_time.device_name(device)}; torch {torch.__version__}\n")
    with contextlib.redirect_stderr(io.StringIO()):  # the scripts' progress bars
        step_table(device, args.smoke)
    print(f"\ngpu_check: {time.time() - start:.0f} s in all")


if __name__ == "__main__":
    common.run_cli(main)
