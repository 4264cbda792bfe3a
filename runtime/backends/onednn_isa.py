"""oneDNN's instruction-set cap: ONEDNN_MAX_CPU_ISA limits the instructions OpenVINO's CPU kernels use.

OpenVINO's OPTIMIZATION_CAPABILITIES and /proc/cpuinfo still describe the whole CPU under a cap: on an
AVX512-BF16 machine capped at AVX2, OpenVINO reported BF16 and then failed to compile the bf16 network ("could
not create a primitive descriptor for the deconvolution forward propagation primitive"). So what auto chooses,
and whether the openvino backend accepts bf16, is checked against the cap as well.
"""

from __future__ import annotations

import os
from typing import Mapping

ONEDNN_ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")  # the second: its name before oneDNN 2

# Each level as dnnl_cpu_isa_t's bit mask, which holds the bits of every level below it: a cap allows level X
# where (cap & X) == X.
ONEDNN_ISA_MASKS = {
    "SSE41": 0x1,
    "AVX": 0x3,
    "AVX2": 0x7,
    "AVX2_VNNI": 0xF,
    "AVX2_VNNI_2": 0x1F,
    "AVX512_CORE": 0x27,
    "AVX512_CORE_VNNI": 0x67,
    "AVX512_CORE_BF16": 0xE7,
    "AVX10_1_512": 0x1EF,
    "AVX512_CORE_FP16": 0x1EF,
    "AVX10_1_512_AMX": 0xFEF,
    "AVX512_CORE_AMX": 0xFEF,
    "AVX10_1_512_AMX_FP16": 0x1FEF,
    "AVX512_CORE_AMX_FP16": 0x1FEF,
}
BF16_ISA = ONEDNN_ISA_MASKS["AVX512_CORE_BF16"]  # the lowest level with bf16 dot products
INT8_ISA = ONEDNN_ISA_MASKS["AVX2"]  # the lowest level with oneDNN's int8 kernels


def onednn_isa_cap(environ: Mapping[str, str] = os.environ) -> str | None:
    """The cap set in the environment, upper case (e.g. "AVX2"); None where there is none, it is ALL, or oneDNN
    would not know the name (and so ignores it)."""
    for name in ONEDNN_ISA_ENV:
        value = environ.get(name, "").strip().upper()
        if value:
            return value if value in ONEDNN_ISA_MASKS else None
    return None


def cap_allows(cap: str | None, level: int) -> bool:
    """True if the cap (a name of ONEDNN_ISA_MASKS, or None for none) leaves the level's instructions in use."""
    return cap is None or ONEDNN_ISA_MASKS[cap] & level == level
