"""The one-shot GPU check runs its code paths on the CPU (--smoke) and prints every table row."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import gpu_check  # noqa: E402


def test_gpu_check_smoke_prints_every_row(capsys):
    gpu_check.main(["--smoke"])
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    labels = {(r[0].strip(), r[1].strip()) for r in rows}
    for kind, methods in gpu_check.step_time.METHODS.items():
        assert (kind, "floor (critic fwd+bwd)") in labels
        for label, module, extra in methods:
            n_critic = gpu_check.step_time.n_critic_of(module, kind, extra)
            assert (kind, f"{label} ({n_critic} critic)") in labels
    pair = [r for r in rows if r[0].strip() in ("fogan_text", "wgangp --dataset text")]
    assert {r[0].strip() for r in pair} == {"fogan_text", "wgangp --dataset text"}
    assert all(0 <= float(r[3]) <= 1 for r in pair)  # js4


def test_advas_variants_agree_with_the_definition(capsys):
    """benchmarks/advas_variants.py on tiny nets: every way of computing g_AdvAs matches the definition."""
    import advas_variants
    advas_variants.main(["--toy-width", "16", "--text-width", "8", "--n", "1", "--repeats", "1", "--iterations", "0"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "---" not in line and "variant" not in line]
    assert {(r[0].strip(), r[2].strip()) for r in rows} == {(k, v) for k in ("toy", "text")
                                                           for v in advas_variants.VARIANTS}
    for row in rows:  # "directions" (X and X' only, no gradient) has nothing to compare
        if row[2].strip() in advas_variants.GRADIENTS:
            assert all(float(e) < 1e-8 for e in row[3].split("/")), row
