"""WGAN-GP: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").

The critic's 1-Lipschitz constraint is enforced softly on random interpolates between real and generated
samples; `--one-sided` penalises only slopes above 1 (Petzka et al.'s WGAN-LP, "one-sided GP"). `--mode wgan` is
the baseline every penalty is measured against: WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1), as
the original code's MODE = 'wgan'; `--fixed-generator` holds the "generator" at real data + N(0, 1) noise on the
toys (gan_toy.py's FIXED_GENERATOR, the paper's Figure 1), so that only the critic learns.

    python wgangp.py                                     # swiss roll on CPU, ~3 min, picture in runs/
    python wgangp.py --dataset swissroll --schedule blog --one-sided      # the Lernapparat notebook's setting
    python wgangp.py --dataset celeba --data-root img_align_celeba       # DCGAN 64x64; or mnist / cifar10 --data-root ROOT
    python wgangp.py --mode wgan --fixed-generator --dataset 8gaussians   # Figure 1(a): a clipped critic's surface
    python wgangp.py --dataset text --data-root 1-billion-word-language-modeling-benchmark-r13output
    python wgangp.py --dataset celeba --data-root img_align_celeba --arch resnet --n-critic 1 \\
        --lr-critic 3e-4 --lr-generator 1e-4 --beta1 0 --iters 100000      # FOGAN's CelebA baseline (TTUR)
"""
import dataclasses
import functools
from typing import Optional

import torch

import common
from common import arg


@dataclasses.dataclass
class Args:
    dataset: str = arg("swissroll", "data to learn", choices=common.DATASETS)
    data_root: Optional[str] = arg(None, "real data: CelebA / image folder, MNIST or CIFAR-10 root, One Billion Word folder")
    schedule: str = arg("paper", "paper: the settings below; blog: the Lernapparat notebook's toy setting", choices=("paper", "blog"))
    iters: Optional[int] = arg(None, "generator iterations")
    batch_size: Optional[int] = arg(None, "batch size")
    n_critic: Optional[int] = arg(None, "critic steps per generator step")
    lam: Optional[float] = arg(None, "gradient penalty weight lambda")
    one_sided: bool = arg(False, "one-sided penalty relu(||grad|| - 1)^2 (WGAN-LP) instead of (||grad|| - 1)^2")
    mode: str = arg("wgan-gp", "wgan-gp: the penalty; wgan: no penalty, critic weights clipped to [-clip, clip]",
                    choices=("wgan-gp", "wgan"))
    clip: Optional[float] = arg(None, "--mode wgan: the clipping bound c")
    fixed_generator: bool = arg(False, "toys: no generator; the critic learns against real + N(0, 1) (Figure 1)")
    depth: Optional[int] = arg(None, "toys: hidden layers of both MLPs (Figure 1(b): 12)")
    optimizer: Optional[str] = arg(None, "adam (every paper) or rmsprop (the notebook)", choices=("adam", "rmsprop"))
    lr_critic: Optional[float] = arg(None, "learning rate of the critic")
    lr_generator: Optional[float] = arg(None, "learning rate of the generator")
    beta1: Optional[float] = arg(None, "Adam beta1")
    beta2: Optional[float] = arg(None, "Adam beta2")
    arch: Optional[str] = arg(None, "nets: toys mlp | mlp-leaky; 32/64 px images dcgan | resnet (64 px)", choices=common.ARCHS)
    width: Optional[int] = arg(None, "net width (MLP units, DCGAN/ResNet base channels, text ResNet channels)")
    critic_norm: str = arg("none", "normalisation in the DCGAN critic", choices=("none", "layer", "batch"))
    generator_batch_norm: Optional[bool] = arg(None, "batch norm in the text generator (FOGAN/TTUR's --batch_norm_g)")
    image_size: Optional[int] = arg(None, "image side (64 DCGAN, 32 DCGAN, 28 MNIST nets); default per dataset")
    train_size: Optional[int] = arg(None, "images: train on this many (a fixed draw), hold out the rest (Figure 5(b))")
    fid_weights: Optional[str] = arg(None, "pytorch-fid's pt_inception-2015-12-05-6726825d.pth ('none': no FID; 'download')")
    fid_stats: Optional[str] = arg(None, "real-set FID statistics .npz (mu, sigma), e.g. TTUR's; default: computed, cached")


# Paper settings per data kind: gan_toy.py, gan_64x64.py / gan_mnist.py, and for text FOGAN's WGAN-GP baseline
# (WGAN_GP/run_ttur.sh: 500k iterations, one critic step, lr 3e-4 / 1e-4, --batch_norm_g). "blog": the
# Lernapparat notebook (RMSprop 5e-5, 10 critic steps, LeakyReLU MLPs, 5000 generator iterations, lambda 10).
DEFAULTS = {
    "toy": dict(width=512, iters=600, batch_size=256, n_critic=5, lam=0.1, optimizer="adam", lr_critic=1e-4,
                lr_generator=1e-4, beta1=0.5, beta2=0.9, arch="mlp", eval_every=150, generator_batch_norm=False, depth=3),
    "blog": dict(width=512, iters=5000, batch_size=256, n_critic=10, lam=10.0, optimizer="rmsprop", lr_critic=5e-5,
                 lr_generator=5e-5, beta1=0.5, beta2=0.9, arch="mlp-leaky", eval_every=500,
                 generator_batch_norm=False, depth=3),
    "image": dict(width=64, iters=200_000, batch_size=64, n_critic=5, lam=10.0, optimizer="adam", lr_critic=1e-4,
                  lr_generator=1e-4, beta1=0.5, beta2=0.9, arch="dcgan", eval_every=5000, generator_batch_norm=False),
    "text": dict(width=512, iters=500_000, batch_size=64, n_critic=1, lam=10.0, optimizer="adam", lr_critic=3e-4,
                 lr_generator=1e-4, beta1=0.5, beta2=0.9, eval_every=2000, generator_batch_norm=True),
    # without --data-root: the embedded corpus / 8x8 digits, a CPU-sized miniature of the paper setting
    "text embedded": dict(width=64, iters=600, eval_every=150, eval_samples=640),
    "image embedded": dict(width=16, iters=200, eval_every=50, eval_samples=1000),
    # --mode wgan, on top of the row above: WGAN Algorithm 1 as gan_toy.py / gan_mnist.py run it (RMSprop 5e-5,
    # clipping at 0.01, 5 critic steps, TensorFlow's RMSprop decay 0.9 and epsilon 1e-10); no penalty
    "mode=wgan": dict(optimizer="rmsprop", lr_critic=5e-5, lr_generator=5e-5, n_critic=5, clip=0.01, lam=0.0),
}
PAPER = {"image": "python wgangp.py --dataset celeba --data-root img_align_celeba",
         "text": "python wgangp.py --dataset text --data-root 1-billion-word-language-modeling-benchmark-r13output"}


# ---- the method: copy from here into your own code; it needs only `import torch` -------------------------------


def gradient_penalty(critic, real, fake, one_sided=False):
    """mean (||grad_x f(x_hat)|| - 1)^2 at x_hat = real + eps (fake - real), eps ~ U[0, 1] per sample
    (WGAN-GP eq. 3); one-sided: mean relu(||grad|| - 1)^2 (WGAN-LP). The norm is over the whole sample."""
    eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
    interpolates = (real + eps * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    slope = grad.flatten(1).norm(dim=1)
    return (torch.relu(slope - 1) if one_sided else slope - 1).pow(2).mean()


def critic_loss(critic, real, fake, *, lam=10.0, one_sided=False):
    """WGAN-GP eq. 3: L = E f(fake) - E f(real) + lam * penalty. Returns (L, terms); terms["w_distance"] is the
    critic's estimate E f(real) - E f(fake) of the Wasserstein distance."""
    f_real, f_fake = critic(real).reshape(len(real)), critic(fake).reshape(len(fake))  # any score shape -> (B,)
    w_distance = f_real.mean() - f_fake.mean()                 # E f(x) - E f(G(z)), the critic's W estimate
    penalty = gradient_penalty(critic, real, fake, one_sided)  # E (||grad f(x_hat)|| - 1)^2
    loss = -w_distance + lam * penalty                         # WGAN-GP eq. 3
    return loss, {"critic_loss": loss, "w_distance": w_distance, "penalty": penalty}


def clipped_critic_loss(critic, real, fake):
    """WGAN (Arjovsky et al. 2017, Algorithm 1, line 5): L = E f(fake) - E f(real), no penalty; the critic is kept
    Lipschitz by `clip_weights` after each of its steps. Returns (L, terms) as `critic_loss`."""
    f_real, f_fake = critic(real).reshape(len(real)), critic(fake).reshape(len(fake))
    w_distance = f_real.mean() - f_fake.mean()                 # E f(x) - E f(G(z))
    return -w_distance, {"critic_loss": -w_distance, "w_distance": w_distance}


@torch.no_grad()
def clip_weights(critic, c=0.01):
    """WGAN Algorithm 1, line 7: every critic parameter (weights and biases) clipped to [-c, c] in place.
    Returns the share of parameters at the bound (a 0-d tensor; nothing is read from the device)."""
    at_bound, total = 0, 0
    for p in critic.parameters():
        p.clamp_(-c, c)                                        # w <- clip(w, -c, c)
        at_bound, total = at_bound + (p.abs() >= c).sum(), total + p.numel()
    return at_bound / total


def generator_loss(critic, real, fake):
    """WGAN-GP Algorithm 1, line 12: L_G = -E f(G(z)). (`real` is unused; every method file has this signature.)"""
    loss = -critic(fake).reshape(len(fake)).mean()
    return loss, {"generator_loss": loss}


# ---- end of the method ---------------------------------------------------------------------------------------


def main(argv=None):
    args = common.parse_args(Args, argv, DEFAULTS, about=__doc__)  # flags > paper setting
    if args.mode == "wgan" and (args.lam or args.one_sided):
        common.fail("--mode wgan has no penalty: --lam and --one-sided are for --mode wgan-gp")
    if args.clip is not None and (args.mode == "wgan-gp" or not 0 < args.clip < 1):
        common.fail(f"--clip {args.clip}: a bound in (0, 1), for --mode wgan (WGAN-GP does not clip; a bound of 1 "
                    "or more leaves the initial weights unclipped)")
    if args.train_size is not None and common.data_kind(args.dataset) != "image":
        common.fail(f"--train-size is for images (--dataset {args.dataset} has its own held-out data)")
    if args.fixed_generator and common.data_kind(args.dataset) != "toy":
        common.fail("--fixed-generator is gan_toy.py's, for the 2D toys")
    if args.fixed_generator and {"lr_generator", "beta1", "beta2"} & args.given:
        common.fail("--fixed-generator trains no generator: its --lr-generator / --beta1 / --beta2 would do nothing")
    rank = common.setup_distributed()  # under torchrun --nproc_per_node=N: one process per device
    run = common.Run("wgangp", args, PAPER)
    common.seed_everything(args.seed)
    device = common.pick_device(args.device, args.amp)

    # ---- data, nets, optimisers
    data = common.make_data(args.dataset, args.data_root, args.batch_size, device, args.seed + rank, args.image_size,
                            cache=args.cache_dir, train_size=args.train_size)
    generator, critic, z_dim = common.make_nets(data, width=args.width, critic_norm=args.critic_norm, arch=args.arch,
                                                generator_batch_norm=args.generator_batch_norm, amp=args.amp,
                                                depth=args.depth)
    generator, critic = common.distribute(generator, device), common.distribute(critic, device)
    common.seed_everything(args.seed + rank)  # the same initial weights on every rank, its own noise
    if args.optimizer == "rmsprop":  # WGAN Algorithm 1 (--mode wgan: TensorFlow's RMSprop) or the notebook's (torch's)
        tensorflow = dict(alpha=0.9, eps=1e-10) if args.mode == "wgan" else {}
        opt_generator = torch.optim.RMSprop(generator.parameters(), lr=args.lr_generator, **tensorflow)
        opt_critic = torch.optim.RMSprop(critic.parameters(), lr=args.lr_critic, **tensorflow)
    else:  # WGAN-GP Algorithm 1: Adam(alpha, beta1, beta2)
        opt_generator = torch.optim.Adam(generator.parameters(), lr=args.lr_generator, betas=(args.beta1, args.beta2))
        opt_critic = torch.optim.Adam(critic.parameters(), lr=args.lr_critic, betas=(args.beta1, args.beta2))
    if args.fixed_generator:  # gan_toy.py's FIXED_GENERATOR: G(z) = real points + z, nothing to train
        generator, opt_generator = common.RealPlusNoise(data), None
    # the critic's objective and its constraint: the penalty inside the loss (WGAN-GP eq. 3), or WGAN's clipping
    # of every weight after each step (Algorithm 1 of Arjovsky et al., line 7)
    if args.mode == "wgan":
        objective, constrain = clipped_critic_loss, lambda: {"clipped_share": clip_weights(critic, args.clip)}
    else:
        objective, constrain = functools.partial(critic_loss, lam=args.lam, one_sided=args.one_sided), dict
    evaluate = common.Evaluator(data, run, generator, critic, z_dim, device, args.eval_samples,
                                args.fid_weights, args.fid_stats)
    start = run.start(generator=generator, critic=critic, opt_generator=opt_generator, opt_critic=opt_critic,
                      data=data, evaluate=evaluate)  # evaluate: a checkpoint whose row a kill lost

    for step in run.steps(start):  # progress bar, Ctrl-C / SIGTERM
        # ---- critic: minimise E f(fake) - E f(real) + lam * penalty   (WGAN-GP eq. 3; --mode wgan: no penalty, clipping)
        # n_critic steps; the notebook (--schedule blog) takes 100 for the first 25 generator steps and every 500th
        n_critic = 100 if args.schedule == "blog" and (step < 25 or step % 500 == 0) else args.n_critic
        for _ in range(n_critic):
            real = data.next()
            with torch.no_grad():
                fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            loss, terms = objective(critic, real, fake)
            opt_critic.zero_grad(set_to_none=True)
            loss.backward()
            opt_critic.step()
            terms.update(constrain())  # --mode wgan: w <- clip(w, -c, c)

        # ---- generator: minimise -E f(G(z))   (WGAN-GP Algorithm 1, lines 11-12); a fixed generator has none
        generator_terms = {}
        if opt_generator is not None:
            critic.requires_grad_(False)
            fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            loss, generator_terms = generator_loss(critic, real, fake)
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
