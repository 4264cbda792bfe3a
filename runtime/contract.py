"""The I/O contract between the runtime and every backend, defined once.

Training, export, the runtime and the tests import these names; nothing else spells them out.

Input tensor ``input``: float32, (N, 4, H, W), channels in this order:
    0: L / 100               (CIE L* of the photo, 0..1)
    1: a_hint / 110          (0 where there is no hint)
    2: b_hint / 110          (0 where there is no hint)
    3: mask                  (1 where a hint is given, else 0)
Output tensor ``ab``: float32, (N, 2, H, W), CIE a*, b* divided by 110.
H and W are multiples of 16 (four 2x2 poolings); the network size is 256 by default.
"""

from __future__ import annotations

CONTRACT_VERSION = 1
CONTRACT_VERSION_KEY = "msau_contract_version"  # in ONNX metadata_props (and the OpenVINO IR's rt_info)
# The model config (JSON) as checkpoints and exported ONNX files record it.
MODEL_CONFIG_KEY = "msau_model_config"

INPUT_NAME = "input"
OUTPUT_NAME = "ab"

INPUT_CHANNELS = 4
OUTPUT_CHANNELS = 2
CHANNEL_L, CHANNEL_A_HINT, CHANNEL_B_HINT, CHANNEL_MASK = 0, 1, 2, 3

L_SCALE = 100.0
AB_SCALE = 110.0
# Every sRGB colour has |a*|, |b*| < 110 (a* in -86..98, b* in -108..95), so an output beyond +-1 is no colour
# at all; the runtime clips there (a small network can overshoot at image borders).
AB_LIMIT = 1.0

SIZE_MULTIPLE = 16
DEFAULT_SIZE = 256


def check_size(height: int, width: int) -> None:
    """Raise ValueError unless both sides are positive multiples of SIZE_MULTIPLE."""
    if height <= 0 or width <= 0 or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ValueError(
            f"network input must be a positive multiple of {SIZE_MULTIPLE} on both sides, got {height}x{width}"
        )


def round_size(size: int) -> int:
    """The nearest multiple of SIZE_MULTIPLE (at least one multiple)."""
    return max(SIZE_MULTIPLE, int(round(size / SIZE_MULTIPLE)) * SIZE_MULTIPLE)


def check_contract_version(source: object, recorded: str | int | None) -> None:
    """ValueError naming source unless the contract version a model file records is this one. A file that
    records none (exported by another tool) passes: the backends check its input and output at load."""
    if recorded is not None and str(recorded).strip() != str(CONTRACT_VERSION):
        raise ValueError(
            f"{source}: exported for I/O contract version {recorded}, this msau uses {CONTRACT_VERSION}; "
            "export it again with this msau (msau-export)"
        )


def metadata() -> dict[str, str]:
    """What every exported artifact records about the contract it follows."""
    return {
        CONTRACT_VERSION_KEY: str(CONTRACT_VERSION),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_channels": "L/100,a_hint/110,b_hint/110,mask",
        "output_channels": "a/110,b/110",
    }
