"""Wall-clock seconds of a short run of one script per data kind with N intra-op threads (`--threads N`), alone on
the machine ("quiet") and with a second, identical run beside it ("busy": two seeds side by side, the usual way
studies are run). What the scripts' default `--threads` is chosen from.

    python benchmarks/threads.py                          # toy, text, image; 1 and 2 threads; quiet and busy
    python benchmarks/threads.py --kinds toy --threads 1,2,4

Each cell is the whole `python SCRIPT ...` command (start-up, the run and one evaluation at its end); busy:
the mean of the two runs. Run it on an otherwise idle machine.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = {  # kind -> the command (the no-flag settings, shorter)
    "toy": ["wgangp.py", "--iters", "60", "--eval-every", "60", "--eval-samples", "200"],
    "text": ["fogan_text.py", "--iters", "30", "--eval-every", "30", "--eval-samples", "64"],
    "image": ["fogan_celeba.py", "--iters", "30", "--eval-every", "30", "--eval-samples", "64"],
}


def timed_runs(command, threads, copies):
    """Start `copies` identical runs at once; their wall-clock seconds."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, *command, "--threads", str(threads), "--seed", str(seed),
                                       "--runs-dir", runs], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True) for seed in range(1, copies + 1)]
        seconds = []
        for process in processes:
            _, err = process.communicate()
            if process.returncode:
                sys.exit(f"error: {' '.join(command)} failed: {err.strip().splitlines()[-1:]}")
            seconds.append(time.perf_counter() - start)
    return sum(seconds) / len(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default="toy,text,image")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args(argv)
    counts = [int(t) for t in args.threads.split(",")]
    print(f"{os.cpu_count()} CPUs; each cell: seconds of the whole command (busy: mean of two side by side)")
    print("| data | command | " + " | ".join(f"{t} thr. quiet | {t} thr. busy" for t in counts) + " |")
    print("|---|---|" + "---|---|" * len(counts))
    for kind in args.kinds.split(","):
        command = RUNS[kind]
        cells = []
        for threads in counts:
            cells += [f"{timed_runs(command, threads, 1):.1f}", f"{timed_runs(command, threads, 2):.1f}"]
        print(f"| {kind} | `{' '.join(command)}` | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
