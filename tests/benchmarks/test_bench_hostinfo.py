from msau.benchmarks.hostinfo import cpu_facts, has_nvidia_gpu, host_facts, library_versions, memory_gb


def test_cpu_facts_from_cpuinfo():
    cpuinfo = [
        {
            "processor": str(i),
            "model name": "AMD EPYC 9R14",
            "physical id": "0",
            "core id": str(i // 2),
            "flags": "fpu avx2 fma avx512f avx512_bf16 amx_tile",
        }
        for i in range(4)
    ]
    facts = cpu_facts(cpuinfo)
    assert facts["model"] == "AMD EPYC 9R14"
    assert facts["physical_cores"] == 2  # two hyper-threads per core
    assert facts["features"] == ["avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"]


def test_memory_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree: 1 kB\n")
    assert memory_gb(meminfo) == 15.6
    assert memory_gb(tmp_path / "missing") is None


def test_host_facts_name_the_libraries_without_importing_them():
    import sys

    facts = host_facts()
    assert facts["cpu"]["logical_cores"] >= 1
    assert "numpy" in facts["libraries"] and "msau" in library_versions(("msau",))
    assert isinstance(facts["gpus"], list)
    assert has_nvidia_gpu({"gpus": [{"name": "H100"}]}) and not has_nvidia_gpu({"gpus": []})
    if "torch" not in sys.modules:
        assert facts["cuda"] == {}
