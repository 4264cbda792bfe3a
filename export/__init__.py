"""msau.export: checkpoint -> ONNX, FP16 ONNX, TensorRT engine (+ sidecar), OpenVINO IR, each verified (msau-export).

``export(weights, ExportOptions(out=...), progress=None) -> list[Artifact]`` is the API; msau-export wraps it.
"""

from msau.export.api import Artifact, ExportOptions, ExportRefused, ExportUsageError, Progress, export

__all__ = ["Artifact", "ExportOptions", "ExportRefused", "ExportUsageError", "Progress", "export"]
