"""Two torchrun-style ranks on the CPU (gloo) end with identical weights."""
import importlib
import os
import pickle
import socket

import pytest
import torch
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow  # not in the fast lane: python -m pytest -m "not slow"


def _worker(rank, world_size, port, out_dir, script, flags):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    import common
    module = importlib.import_module(script)

    def save_every_rank(self, step, **state):  # each rank writes what it holds, for the test to compare
        torch.save({k: common.unwrap(v).state_dict() for k, v in state.items()}, os.path.join(out_dir, f"rank{rank}.pt"))

    common.Run.save = save_every_rank
    module.main(flags + ["--runs-dir", os.path.join(out_dir, "runs")])
    torch.distributed.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("script,flags", [
    ("wgangp", ["--dataset", "digits", "--width", "8", "--batch-size", "8", "--n-critic", "2", "--fid-weights", "none"]),
    ("fogan_text", ["--width", "8", "--batch-size", "8", "--eval-samples", "32", "--amp", "bf16"]),
    ("slogan", ["--dataset", "8gaussians", "--width", "8", "--batch-size", "8", "--variant", "2", "--eval-samples", "20"]),
    ("advas", ["--dataset", "25gaussians", "--width", "8", "--batch-size", "8", "--n-critic", "2", "--eval-samples", "20"]),
])
def test_two_ranks_end_with_identical_weights(tmp_path, script, flags):
    flags = flags + ["--iters", "3", "--eval-every", "3"]
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path), script, flags), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for net in ("generator", "critic"):
        weights = [k for k in rank0[net] if not any(b in k for b in ("running_", "moving_", "num_batches_tracked"))]
        assert weights
        for key in weights:  # batch-norm running statistics are per rank; DDP broadcasts rank 0's each forward
            assert torch.equal(rank0[net][key], rank1[net][key]), f"{net}.{key} differs between ranks"
    # each rank drew its own data (so equal weights come from averaged gradients, not from equal batches)
    assert pickle.dumps(rank0["data"]) != pickle.dumps(rank1["data"])
    runs = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]  # .cache: the shared cache
    assert len(runs) == 1 and (runs[0] / "metrics.csv").exists()  # only rank 0 wrote a run folder
