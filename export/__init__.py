"""msau.export: checkpoint -> ONNX, FP16 ONNX, TensorRT engine (+ sidecar), OpenVINO IR, each verified (msau-export)."""
