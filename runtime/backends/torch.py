"""PyTorch: the reference backend, on a safetensors checkpoint; CPU or CUDA, fp32 / fp16 / bf16.

fp16 and bf16 run under autocast (convolutions in the low precision, reductions such as the attention
pooling in fp32), which is what keeps the result close to fp32 without a model rewrite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from msau.runtime.artifacts import CHECKPOINT_SUFFIX, artifact_path, model_stem
from msau.runtime.backends.base import Backend, BackendError, load_error, require


def checkpoint_for(path: str | Path) -> Path:
    """The safetensors checkpoint to load for path: itself, or ``<stem>.safetensors`` beside another artifact of
    the same model (msau.runtime.artifacts: ``m.fp16.onnx`` -> ``m.safetensors``)."""
    path = Path(path)
    if path.suffix.lower() == CHECKPOINT_SUFFIX:
        return path
    sibling = artifact_path(path.parent, model_stem(path), CHECKPOINT_SUFFIX)
    if sibling.is_file():
        return sibling
    raise FileNotFoundError(
        f"{path}: the torch backend loads a safetensors checkpoint and there is no {sibling.name} beside it; "
        "pass the .safetensors file or choose another backend"
    )


class TorchBackend(Backend):
    """MSAUNet from a checkpoint, in inference mode. Options: ``threads`` (torch.set_num_threads on CPU)."""

    name = "torch"
    precisions = ("fp32", "fp16", "bf16")
    model_suffixes = (CHECKPOINT_SUFFIX,)

    def __init__(self, model_path, precision="fp32", device=None, threads: int | None = None, **options) -> None:
        super().__init__(model_path, precision, device, **options)
        torch = require("torch", "train", self.name)
        from msau.model.checkpoint import load_checkpoint

        self._torch = torch
        self.device = device or "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"the torch backend was asked for {self.device} but this torch sees no CUDA GPU")
        if threads and self.device == "cpu":
            torch.set_num_threads(int(threads))
        self.checkpoint = checkpoint_for(self.model_path)
        try:
            model, _ = load_checkpoint(self.checkpoint, map_location="cpu")
        except (BackendError, MemoryError):
            raise
        except Exception as error:  # safetensors' header errors, a config or tensors that do not fit the network
            raise load_error(self.checkpoint, "an MSAU-Net safetensors checkpoint", error) from error
        self.model = model.to(self.device).eval()
        self._dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]

    def infer(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        batch = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)  # (N, 4, H, W)
        with torch.inference_mode():
            if self._dtype is None:
                ab = self.model(batch)
            else:
                with torch.autocast(device_type=self.device.split(":")[0], dtype=self._dtype):
                    ab = self.model(batch)
        return ab.float().cpu().numpy()  # (N, 2, H, W)

    def close(self) -> None:
        self.model = None
