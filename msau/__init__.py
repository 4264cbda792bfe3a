"""msau: train, export, run and benchmark MSAU-Net hint-based image colorization."""

__version__ = "0.1.0"
