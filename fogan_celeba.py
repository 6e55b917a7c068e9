"""FOGAN on images: First Order GAN (Seward et al. 2018, "First Order Generative Adversarial Networks").
With no flags: the paper's CelebA loss and settings on scikit-learn's 8x8 digits at 28x28 with WGAN-GP's MNIST nets
(width 32), a few minutes on a CPU; `--data-root img_align_celeba` switches to the paper's setting, the DCGAN at
64x64 on CelebA (Section 5.1, Table 2: FID 6.0 vs WGAN-GP 4.2, DCGAN 12.5).

The critic minimises the First Order Penalized Wasserstein Divergence: a Wasserstein term, a penalty on the
Lipschitz quotient between each real sample and its perturbed generated partner, and a first-order term that
pulls ||grad f(x')|| to the target t_i the optimal critic would have. The generator sees x' = a x + (1 - a) G(z).

    python fogan_celeba.py --data-root img_align_celeba --fid-weights pt_inception-2015-12-05-6726825d.pth
    python fogan_celeba.py                                                # offline: 8x8 digits, CPU, ~3 min
    python fogan_celeba.py --dataset cifar10 --data-root ROOT             # any image set, resized to 64x64
"""
import dataclasses
from typing import Optional

import torch

import common
from common import arg


@dataclasses.dataclass
class Args:
    dataset: str = arg("celeba", "images to learn (resized to --image-size)", choices=common.IMAGES)
    data_root: Optional[str] = arg(None, "CelebA's img_align_celeba folder (or the MNIST/CIFAR-10 root, an image folder); none: digits")
    iters: Optional[int] = arg(None, "generator iterations")
    batch_size: Optional[int] = arg(None, "batch size")
    n_critic: Optional[int] = arg(None, "critic steps per generator step")
    lam: Optional[float] = arg(None, "weight of the Lipschitz-quotient term (lambda)")
    mu: Optional[float] = arg(None, "weight of the first-order (gradient) term (mu)")
    max_alpha: Optional[float] = arg(None, "x' = a x + (1 - a) G(z), a ~ U[0, max_alpha]")
    lr_critic: Optional[float] = arg(None, "Adam learning rate of the critic")
    lr_generator: Optional[float] = arg(None, "Adam learning rate of the generator")
    beta1: Optional[float] = arg(None, "Adam beta1")
    beta2: Optional[float] = arg(None, "Adam beta2")
    width: Optional[int] = arg(None, "DCGAN base channels")
    z_dim: Optional[int] = arg(None, "noise dimension, N(0, 1)")
    critic_norm: str = arg("none", "normalisation in the critic (the paper: none)", choices=("none", "layer", "batch"))
    image_size: Optional[int] = arg(None, "image side: 64 (DCGAN 64x64) or 32")
    fid_weights: Optional[str] = arg(None, "pytorch-fid's pt_inception-2015-12-05-6726825d.pth ('none': no FID; 'download')")
    fid_stats: Optional[str] = arg(None, "real-set FID statistics .npz (mu, sigma), e.g. TTUR's; default: computed, cached")


# The paper's settings (FOGAN code, CelebA): ~256k iterations = 81 epochs of 202,599 images at batch 64.
# Without --data-root: a CPU demo on the embedded 8x8 digits at 28x28, where make_nets takes WGAN-GP's MNIST
# nets: FOGAN's DCGAN (32x32, width 16) collapsed onto one shape on these digits within 1,000 iterations.
DEMO_NOTE = {"image": "the digits demo trains WGAN-GP's MNIST nets at 28x28 with FOGAN's loss and settings; FOGAN's "
                      "DCGAN collapses onto one shape on the 8x8 digits in a CPU-sized run"}
DEFAULTS = {
    "image": dict(iters=256_000, batch_size=64, n_critic=1, lam=0.5, mu=1.0, max_alpha=0.01, lr_critic=1e-4,
                  lr_generator=1e-4, beta1=0.5, beta2=0.999, width=64, z_dim=100, image_size=64, eval_every=5000,
                  eval_samples=50_000),
    "image embedded": dict(width=32, image_size=28, iters=800, eval_every=200, eval_samples=1000),
}
PAPER = {"image": "python fogan_celeba.py --data-root img_align_celeba "
                   "--fid-weights pt_inception-2015-12-05-6726825d.pth"}


# ---- the method: copy from here into your own code; it needs only `import torch` -------------------------------


def perturb_fake(real, fake, max_alpha=0.01):
    """x'_i = a_i x_i + (1 - a_i) g_i, a_i ~ U[0, max_alpha]: each generated sample nudged towards its real
    partner (FOGAN Sec. 6, the perturbed generated distribution P'). Paired with `real` row by row."""
    a = max_alpha * torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
    return a * real + (1 - a) * fake


@torch.no_grad()
def first_order_target(real, fake_perturbed, f_real, f_fake):
    """t_i = || mean_j (x_j - x'_i)(f(x_j) - f(x'_i)) / (||x_j - x'_i|| + 1e-6)^3 || / mean_j 1/(||x_j - x'_i|| + 1e-6),
    j over all real samples of the batch: the gradient norm of the optimal critic at x'_i
    (FOGAN Sec. 6: the gradient that makes Eq. 5 hold). A constant target (no gradient).
    Differences first, then norms, as the original's map_fn: a generated sample that nearly copies a real one
    keeps its tiny distance exact (||a||^2 + ||b||^2 - 2ab, as cdist computes, loses it in float32).
    Rows of i in chunks: O(B^2 d) work, O(chunk B d) memory."""
    x, xp = real.flatten(1), fake_perturbed.flatten(1)
    f_real, f_fake = f_real.reshape(len(x)), f_fake.reshape(len(xp))
    chunk = max(1, 2 ** 24 // (len(x) * x.shape[1]))
    targets = []
    for i in range(0, len(xp), chunk):
        difference = x[None, :, :] - xp[i:i + chunk, None, :]                     # (i, j, d): x_j - x'_i
        distance = difference.norm(dim=2) + 1e-6                                  # ||x_j - x'_i|| + 1e-6
        weight = (f_real[None, :] - f_fake[i:i + chunk, None]) / distance ** 3    # (f(x_j) - f(x'_i)) / d_ij^3
        numerator = torch.einsum("ij,ijd->id", weight, difference).norm(dim=1) / len(x)  # ||mean_j w_ij (x_j - x'_i)||
        targets.append(numerator / (1 / distance).mean(1))                        # / mean_j 1 / d_ij
    return torch.cat(targets)


def critic_loss(critic, real, fake, *, lam=0.5, mu=1.0, max_alpha=0.01):
    """The loss the critic minimises (FOGAN Sec. 6, the First Order Penalized Wasserstein Divergence), on
    x' = a x + (1 - a) G(z) (perturbed here):
    L = E f(x') - E f(x) + lam E (f(x) - f(x'))^2 / ||x - x'|| + mu E (||grad f(x')|| - t)^2. Returns (L, terms)."""
    fake_perturbed = perturb_fake(real, fake.detach(), max_alpha).requires_grad_(True)
    n = len(real)
    f_real, f_fake = critic(real).reshape(n), critic(fake_perturbed).reshape(n)  # two calls: grad f(x') stays on x'
    w_distance = f_real.mean() - f_fake.mean()                                          # E f(x) - E f(x')
    with torch.no_grad():
        distance = (real - fake_perturbed).flatten(1).norm(dim=1)
        close = distance < 1e-8                                                         # x' == x: no quotient
    quotient = (f_real - f_fake).pow(2) / torch.where(close, torch.ones_like(distance), distance)
    lipschitz = torch.where(close, torch.zeros_like(quotient), quotient).mean()         # (f(x)-f(x'))^2/||x-x'||
    (grad,) = torch.autograd.grad(f_fake.sum(), fake_perturbed, create_graph=True)
    target = first_order_target(real, fake_perturbed, f_real.detach(), f_fake.detach())
    first_order = (grad.flatten(1).norm(dim=1) - target).pow(2).mean()                  # (||grad f(x')|| - t)^2
    loss = -w_distance + lam * lipschitz + mu * first_order
    return loss, {"critic_loss": loss, "w_distance": w_distance, "lipschitz": lipschitz, "first_order": first_order}


def generator_loss(critic, real, fake, *, max_alpha=0.01):
    """L_G = -E f(x'), x' = a x + (1 - a) G(z): the generator is trained through P' (FOGAN Sec. 6)."""
    loss = -critic(perturb_fake(real, fake, max_alpha)).reshape(len(fake)).mean()
    return loss, {"generator_loss": loss}


# ---- end of the method ---------------------------------------------------------------------------------------


def main(argv=None):
    args = common.parse_args(Args, argv, DEFAULTS, about=__doc__)
    if not args.max_alpha <= 1:  # a > 1 would push x' past the real sample, not between it and G(z)
        common.fail(f"--max-alpha {args.max_alpha}: at most 1 (x' = a x + (1 - a) G(z) lies between them)")
    rank = common.setup_distributed()  # under torchrun --nproc_per_node=N: one process per device
    run = common.Run("fogan_celeba", args, PAPER, DEMO_NOTE)
    common.seed_everything(args.seed)
    device = common.pick_device(args.device, args.amp)

    # ---- data, nets, optimisers
    data = common.make_data(args.dataset, args.data_root, args.batch_size, device, args.seed + rank, args.image_size,
                            cache=args.cache_dir)
    generator, critic, z_dim = common.make_nets(data, z_dim=args.z_dim, width=args.width, critic_norm=args.critic_norm,
                                                amp=args.amp)
    generator, critic = common.distribute(generator, device), common.distribute(critic, device)
    common.seed_everything(args.seed + rank)  # the same initial weights on every rank, its own noise
    opt_generator = torch.optim.Adam(generator.parameters(), lr=args.lr_generator, betas=(args.beta1, args.beta2))
    opt_critic = torch.optim.Adam(critic.parameters(), lr=args.lr_critic, betas=(args.beta1, args.beta2))
    evaluate = common.Evaluator(data, run, generator, critic, z_dim, device, args.eval_samples,
                                args.fid_weights, args.fid_stats)
    start = run.start(generator=generator, critic=critic, opt_generator=opt_generator, opt_critic=opt_critic,
                      data=data, evaluate=evaluate)  # evaluate: a checkpoint whose row a kill lost

    for step in run.steps(start):  # progress bar, Ctrl-C / SIGTERM
        # ---- critic: minimise the First Order Penalized Wasserstein Divergence   (FOGAN Sec. 6)
        for _ in range(args.n_critic):
            real = data.next()
            with torch.no_grad():
                fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            loss, terms = critic_loss(critic, real, fake, lam=args.lam, mu=args.mu, max_alpha=args.max_alpha)
            opt_critic.zero_grad(set_to_none=True)
            loss.backward()
            opt_critic.step()

        # ---- generator: minimise -E f(x') on a fresh batch, x' = a x + (1 - a) G(z)   (FOGAN Sec. 6: updates through P')
        critic.requires_grad_(False)
        real = data.next()
        fake = generator(torch.randn(args.batch_size, z_dim, device=device))
        loss, generator_terms = generator_loss(critic, real, fake, max_alpha=args.max_alpha)
        opt_generator.zero_grad(set_to_none=True)
        loss.backward()
        opt_generator.step()
        critic.requires_grad_(True)

        # ---- TensorBoard every --log-every; evaluation, samples, checkpoint every --eval-every
        done = step + 1
        run.log_train(done, {**terms, **generator_terms}, generator, critic)
        if run.checkpoint_due(done):  # every --eval-every and --checkpoint-minutes, a stop: first, before evaluating
            run.save(done, generator=generator, critic=critic, opt_generator=opt_generator,
                     opt_critic=opt_critic, data=data)
        run.log_metrics(done, evaluate)  # every --eval-every, the last iteration and a stop: metrics.csv, samples
    return run.dir


if __name__ == "__main__":
    common.run_cli(main)
