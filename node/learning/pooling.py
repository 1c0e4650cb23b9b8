"""torch's 2x2 max pool (stride 2) for evaluation on the CPU: the same bits, a fifth of
the CPU.

torch's CPU ``max_pool2d`` walks each window element by element: for LeNet's first pool
on 256 test images (6 x 24 x 24) it costs 4 ms, twice the convolution before it, and over
1000 test images it was half of an evaluation. Here the four elements of each window are
four strided views combined with ``torch.maximum``. That is the kernel's output bit for
bit except where the kernel's rule (the first maximum in raster order wins; a NaN wins)
shows in the bits: a tie between -0.0 and +0.0, or a NaN. So an input holding a -0.0
(whose bits, read as an integer, are that integer type's minimum) goes to torch's kernel,
and so does an output holding a NaN (computed again by the kernel).

Forward only (``evaluate``, under ``no_grad``): with autograd the module calls torch's own
kernel (training measured no faster with a custom backward). ``fast_pools(model)`` swaps
a model's plain ``nn.MaxPool2d(2)`` modules for this one while the context is open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# Below this many input elements torch's kernel is about as fast.
FAST_MIN_NUMEL = 65_536
_SAME_WIDTH_INT = {torch.float32: torch.int32, torch.float64: torch.int64}


def _is_plain_2x2(module: nn.Module) -> bool:
    if type(module) is not nn.MaxPool2d:
        return False
    settings = (module.kernel_size, module.stride, module.padding, module.dilation)
    wanted = ((2, 2), (2, 2), (0, 0), (1, 1))
    return (
        all(_pair(v) == w for v, w in zip(settings, wanted, strict=True))
        and not module.ceil_mode
        and not module.return_indices
    )


def _pair(value: Any) -> tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _fast_ok(x: torch.Tensor) -> bool:
    """No autograd, a shape the views handle, and no -0.0 in ``x``."""
    if not (
        x.numel() >= FAST_MIN_NUMEL
        and not (torch.is_grad_enabled() and x.requires_grad)
        and x.dim() == 4
        and x.device.type == "cpu"
        and x.dtype in _SAME_WIDTH_INT
        and x.is_contiguous()
        and x.shape[2] % 2 == 0
        and x.shape[3] % 2 == 0
    ):
        return False
    as_int = _SAME_WIDTH_INT[x.dtype]
    return bool(x.view(as_int).min() != torch.iinfo(as_int).min)


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``, bit for bit."""
    if not _fast_ok(x):
        return F.max_pool2d(x, 2)
    n, c, h, w = x.shape
    v = x.view(n, c, h // 2, 2, w // 2, 2)
    top = torch.maximum(v[:, :, :, 0, :, 0], v[:, :, :, 0, :, 1])
    bottom = torch.maximum(v[:, :, :, 1, :, 0], v[:, :, :, 1, :, 1])
    out = torch.maximum(top, bottom).contiguous()
    if torch.isnan(out.sum()):  # a NaN in a window (or infinities of both signs)
        return F.max_pool2d(x, 2)
    return out


class FastMaxPool2x2(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool_2x2(x)


@contextmanager
def fast_pools(model: nn.Module) -> Iterator[int]:
    """Within the context, ``model``'s plain 2x2 max pools are ``FastMaxPool2x2``; yields
    how many were swapped (put back on exit)."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _is_plain_2x2(child):
                swapped.append((parent, name, child))
                setattr(parent, name, FastMaxPool2x2())
    try:
        yield len(swapped)
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
