"""AdvAs: the adversary's assistant (Munk, Harvey & Wood 2021, "Assisting the Adversary to Improve GAN Training"),
on top of WGAN-GP.

The critic step is WGAN-GP's, unchanged. The generator step adds the gradient of an unbiased estimate of
r = ||grad_phi L_adv||^2, the norm of the critic's own training gradient: the generator is pushed towards points
where the current critic is already optimal. Its scale needs no hyperparameter:
lambda_AdvAs = min(1, ||g_orig|| / ||g_AdvAs||).

    python advas.py                                      # swiss roll on CPU, ~1 min; --no-advas is WGAN-GP
    python advas.py --dataset mnist --data-root ROOT     # the paper's MNIST experiment (WGAN-GP's MNIST nets)
    python advas.py --dataset celeba --data-root img_align_celeba
"""
import dataclasses
from typing import Optional

import torch

import common
from common import arg


@dataclasses.dataclass
class Args:
    dataset: str = arg("swissroll", "data to learn", choices=common.DATASETS)
    data_root: Optional[str] = arg(None, "real data: CelebA / image folder, MNIST or CIFAR-10 root, One Billion Word folder")
    iters: Optional[int] = arg(None, "generator iterations")
    batch_size: Optional[int] = arg(None, "batch size")
    n_critic: Optional[int] = arg(None, "critic steps per generator step")
    gp_weight: Optional[float] = arg(None, "WGAN-GP's gradient penalty weight (its lambda)")
    advas: bool = arg(True, "add the AdvAs term to the generator's gradient (--no-advas: plain WGAN-GP)")
    advas_gp: bool = arg(True, "include the critic's gradient penalty in L_adv (third-order autograd, skipped for ReLU critics)")
    advas_lambda: Optional[float] = arg(None, "a fixed lambda_AdvAs; default: the paper's min(1, ||g_orig|| / ||g_AdvAs||)")
    optimizer: Optional[str] = arg(None, "adam (every paper) or rmsprop (torch's)", choices=("adam", "rmsprop"))
    lr_critic: Optional[float] = arg(None, "learning rate of the critic")
    lr_generator: Optional[float] = arg(None, "learning rate of the generator")
    beta1: Optional[float] = arg(None, "Adam beta1")
    beta2: Optional[float] = arg(None, "Adam beta2")
    arch: Optional[str] = arg(None, "nets: toys mlp | mlp-leaky; 32/64 px images dcgan | resnet (64 px)", choices=common.ARCHS)
    width: Optional[int] = arg(None, "net width (MLP units, DCGAN/ResNet base channels, text ResNet channels)")
    critic_norm: str = arg("none", "normalisation in the DCGAN critic", choices=("none", "layer", "batch"))
    generator_batch_norm: Optional[bool] = arg(None, "batch norm in the text generator (FOGAN/TTUR's --batch_norm_g)")
    image_size: Optional[int] = arg(None, "image side (64 DCGAN, 32 DCGAN, 28 MNIST nets); default per dataset")
    fid_weights: Optional[str] = arg(None, "pytorch-fid's pt_inception-2015-12-05-6726825d.pth ('none': no FID; 'download')")
    fid_stats: Optional[str] = arg(None, "real-set FID statistics .npz (mu, sigma), e.g. TTUR's; default: computed, cached")


# WGAN-GP's settings per data kind (gan_toy.py, gan_mnist.py / gan_64x64.py, FOGAN's run_ttur.sh for text). "toy":
# a CPU demo (the AdvAs paper has no 2D toy): gan_toy.py's MLP and settings at width 128 with 2 critic steps, the
# setting where AdvAs helped most in our study (docs/results.md); 2,000 iterations.
DEMO_NOTE = {"toy": "the toy demo: gan_toy.py's MLP at width 128 with 2 critic steps, where AdvAs matters; "
                    "--no-advas trains the same WGAN-GP"}
DEFAULTS = {
    "toy": dict(width=128, iters=2000, batch_size=256, n_critic=2, gp_weight=0.1, optimizer="adam", lr_critic=1e-4,
                lr_generator=1e-4, beta1=0.5, beta2=0.9, arch="mlp", eval_every=250, generator_batch_norm=False),
    "image": dict(width=64, iters=200_000, batch_size=64, n_critic=5, gp_weight=10.0, optimizer="adam",
                  lr_critic=1e-4, lr_generator=1e-4, beta1=0.5, beta2=0.9, arch="dcgan", eval_every=5000,
                  generator_batch_norm=False),
    "text": dict(width=512, iters=500_000, batch_size=64, n_critic=1, gp_weight=10.0, optimizer="adam",
                 lr_critic=3e-4, lr_generator=1e-4, beta1=0.5, beta2=0.9, eval_every=2000, generator_batch_norm=True),
    # without --data-root: the embedded corpus / 8x8 digits, a CPU-sized miniature of the paper setting
    "text embedded": dict(width=64, iters=600, eval_every=150, eval_samples=640),
    "image embedded": dict(width=16, iters=200, eval_every=50, eval_samples=1000),
}
PAPER = {"image": "python advas.py --dataset mnist --data-root ROOT"}


# ---- the method: copy from here into your own code; it needs only `import torch` -------------------------------


def gradient_penalty(critic, real, fake, one_sided=False):
    """mean (||grad_x f(x_hat)|| - 1)^2 at x_hat = real + eps (fake - real), eps ~ U[0, 1] per sample
    (WGAN-GP eq. 3); one-sided: mean relu(||grad|| - 1)^2 (WGAN-LP). The norm is over the whole sample."""
    eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
    interpolates = (real + eps * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    slope = grad.flatten(1).norm(dim=1)
    return (torch.relu(slope - 1) if one_sided else slope - 1).pow(2).mean()


def critic_loss(critic, real, fake, *, gp_weight=10.0):
    """L_adv, the loss the critic minimises: WGAN-GP eq. 3, E f(fake) - E f(real) + gp_weight * penalty
    (gp_weight 0: no penalty term). Returns (L, terms); terms["w_distance"] = E f(real) - E f(fake)."""
    f_real, f_fake = critic(real).reshape(len(real)), critic(fake).reshape(len(fake))  # any score shape -> (B,)
    w_distance = f_real.mean() - f_fake.mean()                 # E f(x) - E f(G(z)), the critic's W estimate
    penalty = gradient_penalty(critic, real, fake) if gp_weight else torch.zeros((), device=real.device)
    loss = -w_distance + gp_weight * penalty                   # WGAN-GP eq. 3: AdvAs's L_adv
    return loss, {"critic_loss": loss, "w_distance": w_distance, "penalty": penalty}


def generator_loss(critic, real, fake):
    """WGAN-GP's generator loss L_G = -E f(G(z)), whose parameter gradient is AdvAs's g_orig."""
    loss = -critic(fake).reshape(len(fake)).mean()
    return loss, {"generator_loss": loss}


def advas_r_tilde(critic, real, fake, gp_weight=10.0):
    """AdvAs's r~ = X . X', X and X' the gradients of L_adv (`critic_loss`) for the critic's parameters phi on two
    independent halves of the batch: an unbiased estimate of r = ||grad_phi L_adv||^2 (E[X . X'] = ||E X||^2, while
    ||X||^2 is biased up by the minibatch variance). Differentiable w.r.t. `fake`, hence the generator."""
    half = len(real) // 2
    params = [p for p in critic.parameters() if p.requires_grad]
    l_adv, l_adv_prime = (critic_loss(critic, r, f, gp_weight=gp_weight)[0]
                          for r, f in ((real[:half], fake[:half]), (real[half:], fake[half:])))
    x = torch.autograd.grad(l_adv, params, create_graph=True, materialize_grads=True)              # X
    x_prime = torch.autograd.grad(l_adv_prime, params, create_graph=True, materialize_grads=True)  # X'
    return sum((a * b).sum() for a, b in zip(x, x_prime))                                          # r~ = X . X'


# ---- an optimisation, not part of the method: advas_r_tilde with fewer autograd passes -----------------------------


def advas_r_tilde_fast(critic, real, fake, gp_weight=10.0, piecewise_linear=False):
    """The value and generator gradient of `advas_r_tilde` (tests/test_losses.py holds them equal in float64), with
    less work. L_adv = E f(fake) + gp_weight * penalty - E f(real): only the terms that vary with `fake` need a graph
    (second/third-order autograd); the gradients of the others are constants. piecewise_linear
    (`is_piecewise_linear(critic)`: affine maps and ReLU-type activations only): grad_x f is then piecewise constant
    in x, so the penalty and its phi-gradient do not vary with fake either (autograd, too, takes ReLU's second
    derivative as zero), and the third-order pass, which would only compute zeros, is skipped."""
    half = len(real) // 2
    params = [p for p in critic.parameters() if p.requires_grad]

    def grad_l_adv(real, fake):  # X on one half: the fake-dependent part with a graph, the rest without
        penalty = gradient_penalty(critic, real, fake) if gp_weight else 0.0
        fake_term, real_term = critic(fake).reshape(len(fake)).mean(), -critic(real).reshape(len(real)).mean()
        if piecewise_linear:
            varying, constant = fake_term, real_term + gp_weight * penalty
        else:
            varying, constant = fake_term + gp_weight * penalty, real_term
        x_varying = torch.autograd.grad(varying, params, create_graph=True, materialize_grads=True)
        x_constant = torch.autograd.grad(constant, params, materialize_grads=True)
        return [a + b for a, b in zip(x_varying, x_constant)]

    x, x_prime = grad_l_adv(real[:half], fake[:half]), grad_l_adv(real[half:], fake[half:])
    return sum((a * b).sum() for a, b in zip(x, x_prime))


# Layers that keep a net piecewise linear in its input. Exact types (a subclass may compute anything); a module of
# your own says so of its own forward with a class attribute `piecewise_linear = True` (common.py's residual block,
# 'SAME' convolution and Net do).
PIECEWISE_LINEAR_LAYERS = (torch.nn.Sequential, torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ReLU,
                           torch.nn.LeakyReLU, torch.nn.Identity, torch.nn.Flatten)


def is_piecewise_linear(net):
    """Whether every module of `net` is one of PIECEWISE_LINEAR_LAYERS or declares `piecewise_linear = True` (affine
    maps, convolutions, ReLU / leaky ReLU, residual sums, reshapes): true for the toy MLPs, the text ResNet, the
    MNIST critic and the DCGAN critics without normalisation; false with layer or batch norm, tanh, or any layer not
    listed (the safe answer)."""
    return all(type(m) in PIECEWISE_LINEAR_LAYERS or vars(type(m)).get("piecewise_linear", False)
               for m in net.modules())


def advas_gradient(g_orig, g_advas, fixed_lambda=None):
    """The generator's gradient g = g_orig + lambda_AdvAs g_AdvAs, lambda_AdvAs = min(1, ||g_orig|| / ||g_AdvAs||),
    global norms over all generator parameters (AdvAs, "removing the hyperparameter lambda"); or a fixed_lambda
    as given (the hyperparameter the rule removes). Returns (g, lambda_AdvAs)."""
    norm_orig = torch.sqrt(sum(g.pow(2).sum() for g in g_orig))
    norm_advas = torch.sqrt(sum(g.pow(2).sum() for g in g_advas))
    scale = torch.clamp(norm_orig / norm_advas.clamp(min=1e-30), max=1.0)  # lambda_AdvAs = min(1, ||g|| / ||g_AdvAs||)
    if fixed_lambda is not None:
        scale = torch.full_like(scale, fixed_lambda)
    return [g + scale * a for g, a in zip(g_orig, g_advas)], scale


# ---- end of the method ---------------------------------------------------------------------------------------


def main(argv=None):
    args = common.parse_args(Args, argv, DEFAULTS, about=__doc__)
    if not args.advas and {"advas_gp", "advas_lambda"} & args.given:
        common.fail("--advas-gp / --advas-lambda set AdvAs's term; with --no-advas there is none")
    if args.advas and args.batch_size % 2:
        common.fail(f"AdvAs splits the batch into two halves: --batch-size must be even, got {args.batch_size}")
    rank = common.setup_distributed()  # under torchrun --nproc_per_node=N: one process per device
    run = common.Run("advas", args, PAPER, DEMO_NOTE)
    common.seed_everything(args.seed)
    device = common.pick_device(args.device, args.amp)

    # ---- data, nets, optimisers
    data = common.make_data(args.dataset, args.data_root, args.batch_size, device, args.seed + rank, args.image_size,
                            cache=args.cache_dir)
    generator, critic, z_dim = common.make_nets(data, width=args.width, critic_norm=args.critic_norm, arch=args.arch,
                                                generator_batch_norm=args.generator_batch_norm, amp=args.amp)
    generator, critic = common.distribute(generator, device), common.distribute(critic, device)
    common.seed_everything(args.seed + rank)  # the same initial weights on every rank, its own noise
    if args.optimizer == "rmsprop":  # torch's RMSprop, on request
        opt_generator = torch.optim.RMSprop(generator.parameters(), lr=args.lr_generator)
        opt_critic = torch.optim.RMSprop(critic.parameters(), lr=args.lr_critic)
    else:  # Adam(alpha, beta1, beta2), as every paper here
        opt_generator = torch.optim.Adam(generator.parameters(), lr=args.lr_generator, betas=(args.beta1, args.beta2))
        opt_critic = torch.optim.Adam(critic.parameters(), lr=args.lr_critic, betas=(args.beta1, args.beta2))
    evaluate = common.Evaluator(data, run, generator, critic, z_dim, device, args.eval_samples,
                                args.fid_weights, args.fid_stats)
    start = run.start(generator=generator, critic=critic, opt_generator=opt_generator, opt_critic=opt_critic,
                      data=data, evaluate=evaluate)  # evaluate: a checkpoint whose row a kill lost
    # the generator step takes its gradients with `grad`: torch.autograd.grad, averaged over torchrun's processes
    # (DDP averages only what .backward() computes), on the plain nets
    grad, generator_net, critic_net = common.rank_mean_grad, common.unwrap(generator), common.unwrap(critic)
    piecewise_linear = is_piecewise_linear(critic_net)  # ReLU-type critic: advas_r_tilde_fast skips a pass of zeros

    for step in run.steps(start):  # progress bar, Ctrl-C / SIGTERM
        # ---- critic: minimise L_adv = E f(fake) - E f(real) + gp_weight * penalty   (WGAN-GP eq. 3)
        for _ in range(args.n_critic):
            real = data.next()
            with torch.no_grad():
                fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            loss, terms = critic_loss(critic, real, fake, gp_weight=args.gp_weight)
            opt_critic.zero_grad(set_to_none=True)
            loss.backward()
            opt_critic.step()

        # ---- generator: g = g_orig + lambda_AdvAs g_AdvAs, g_orig = grad L_G, g_AdvAs = grad r_tilde   (AdvAs)
        params = list(generator.parameters())
        fake = generator_net(torch.randn(args.batch_size, z_dim, device=device))
        loss, generator_terms = generator_loss(critic_net, real, fake)
        g_orig = grad(loss, params, retain_graph=args.advas)
        if args.advas:  # r~ = X . X' on a fresh real batch: advas_r_tilde, computed with fewer passes
            r_tilde = advas_r_tilde_fast(critic_net, data.next(), fake, args.gp_weight if args.advas_gp else 0.0,
                                         piecewise_linear)
            g_advas = grad(r_tilde, params)
            gradient, advas_lambda = advas_gradient(g_orig, g_advas, args.advas_lambda)
            generator_terms.update(r_tilde=r_tilde, advas_lambda=advas_lambda)
        else:
            gradient = g_orig
        for p, g in zip(params, gradient):
            p.grad = g
        opt_generator.step()

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
