"""The allocator setting the Colorizer makes: where it applies, and that it follows the backend's loading."""

from __future__ import annotations

import platform

import pytest

from msau.runtime import allocator, colorizer as colorizer_module


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)
def test_glibc_takes_the_thresholds() -> None:
    assert allocator.keep_temporaries_on_heap()


def test_other_c_libraries_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_mallopt", lambda: None)
    assert not allocator.keep_temporaries_on_heap()


def test_the_colorizer_sets_them_after_opening_its_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """After: a backend's libraries may set the thresholds themselves as they load."""
    seen = []
    original_open = colorizer_module.open_backend
    monkeypatch.setattr(colorizer_module, "open_backend", lambda *a, **k: seen.append("open") or original_open(*a, **k))
    monkeypatch.setattr(colorizer_module, "keep_temporaries_on_heap", lambda: seen.append("thresholds") or True)
    with colorizer_module.Colorizer(backend="onnxruntime"):  # the shipped model
        assert seen == ["open", "thresholds"]
