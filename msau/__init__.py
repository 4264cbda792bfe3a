"""msau: train, export, run and benchmark MSAU-Net hint-based image colorization."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Colorizer", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import msau` stays light: the runtime and its backends load on first use of Colorizer.
    if name == "Colorizer":
        from msau.runtime.colorizer import Colorizer

        return Colorizer
    raise AttributeError(f"module 'msau' has no attribute {name!r}")
