"""Test helpers shared by several test files: hand-checkable critics and a tiny One Billion Word folder."""
import torch
import torch.nn as nn


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
