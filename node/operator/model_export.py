"""A model blob (fixed-point ``FCM1`` format) as files plain PyTorch and onnxruntime load.

Formats:

- ``pt``: ``torch.save({"state_dict": ..., "metadata": {...}})``; load with
  ``model.load_state_dict(torch.load(f, weights_only=True)["state_dict"])``.
- ``safetensors``: the state dict, metadata in the header's ``__metadata__``.
- ``onnx``: ``torch.onnx.export`` (the torch.export-based exporter; needs the
  ``export`` extra), input ``features`` [batch, width], output ``logits``; metadata
  in the model's ``metadata_props``.

The float weights are exactly the node's: ``from_fixed`` of the blob, as ``load_model``
and ``accuracy_of`` use them.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.errors import ConfigError, ContentError, FedchainError, UpdateRejected
from node.operator.model import ModelRef

if TYPE_CHECKING:
    from torch import nn

FORMATS = ("pt", "safetensors", "onnx")
SUFFIXES = {".pt": "pt", ".pth": "pt", ".safetensors": "safetensors", ".onnx": "onnx"}
EXPORT_EXTRA = "pip install 'fedchain[export]'"
ONNX_INPUT = "features"
ONNX_OUTPUT = "logits"


def pick_format(fmt: str | None, out: Path) -> str:
    """``fmt``, or the one ``out``'s suffix names; ConfigError if neither says."""
    if fmt is None:
        guessed = SUFFIXES.get(out.suffix.lower())
        if guessed is None:
            raise ConfigError(
                f"cannot tell the format from {out.name!r}: give --format pt|safetensors|onnx"
            )
        return guessed
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: use --format pt, safetensors or onnx")
    return fmt


def build_module(task_id: str, blob: bytes) -> nn.Module:
    """The task's torch module with the blob's weights, in eval mode."""
    from node.learning.local import model_from_params
    from node.learning.tasks import get_task
    from node.update.codec import decode_model

    try:
        params = decode_model(blob)
    except UpdateRejected as exc:
        raise ContentError(f"the blob is not a fedchain model ({exc.detail})") from None
    try:
        module = model_from_params(get_task(task_id), params)
    except RuntimeError as exc:  # load_state_dict: missing, unexpected or misshaped tensors
        first = str(exc).splitlines()[0]
        raise ContentError(f"the blob does not fit task {task_id!r}'s model: {first}") from None
    return module.eval()


def input_width(task_id: str, module: nn.Module) -> int:
    """Features per example: from the first layer that fixes it, else from the data."""
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            return int(layer.in_features)
        if isinstance(layer, nn.Unflatten) and layer.dim in (1, -1):
            width = 1
            for size in layer.unflattened_size:
                width *= int(size)
            return width
        if isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Embedding):
            break
    from node.learning.tasks import get_task

    return int(get_task(task_id).load_all().features.shape[1])


def export_model(ref: ModelRef, blob: bytes, fmt: str, out: Path) -> int:
    """Write ``blob`` (already checked against ``ref.cid``) as ``fmt`` to ``out``; bytes written.

    The file appears whole or not at all (written next to ``out``, then renamed).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: use pt, safetensors or onnx")
    writer: Callable[[nn.Module, ModelRef, Path], None] = {
        "pt": _write_pt,
        "safetensors": _write_safetensors,
        "onnx": _write_onnx,
    }[fmt]
    if fmt == "onnx":
        _require_onnx()
    module = build_module(ref.task_id, blob)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _atomic(out) as tmp:
        writer(module, ref, tmp)
    return out.stat().st_size


@contextmanager
def _atomic(out: Path) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _state(module: nn.Module) -> dict[str, Any]:
    return {k: v.detach().contiguous() for k, v in module.state_dict().items()}


def _write_pt(module: nn.Module, ref: ModelRef, path: Path) -> None:
    import torch

    torch.save({"state_dict": _state(module), "metadata": ref.metadata()}, path)


def _write_safetensors(module: nn.Module, ref: ModelRef, path: Path) -> None:
    try:
        from safetensors.torch import save_file
    except ImportError:
        raise ConfigError("the safetensors package is missing: pip install safetensors") from None
    save_file(_state(module), str(path), metadata=ref.metadata())


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--format onnx needs {exc.name}: {EXPORT_EXTRA}") from None


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs a warning per torchvision op it cannot register; not ours."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _write_onnx(module: nn.Module, ref: ModelRef, path: Path) -> None:
    import warnings

    import onnx
    import torch

    # batch 2: torch.export specialises a dimension of size 1 to a constant
    example = torch.zeros(2, input_width(ref.task_id, module))
    batch = torch.export.Dim("batch")
    try:
        with _quiet_exporter(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                input_names=[ONNX_INPUT],
                output_names=[ONNX_OUTPUT],
                dynamic_shapes=({0: batch},),
                verbose=False,
            )
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise FedchainError(f"ONNX export of task {ref.task_id!r} failed: {first}") from None
    model = onnx.load(str(path))
    for key, value in ref.metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
