import numpy as np
import pytest

from msau.benchmarks.configs import Config, plan_configs
from msau.benchmarks.contact_sheet import GAP, LABEL_HEIGHT, contact_sheet, write_contact_sheet
from msau.benchmarks.quality import Photo, QualityError, load_photos, parity, prepare, run_quality
from msau.runtime.color import rgb_to_lab
from msau.runtime.contract import AB_SCALE
from msau.runtime.hints import sample_hints

SIZE = 32


class TruthBackend:
    """Knows the ground-truth colours of the photos: returns their exact ab (plus an offset), found by the L channel.

    The photo is the one whose L* is nearest, not the one with the same float bytes: numpy rounds the colour
    conversion differently on CPUs with and without AVX-512, and the suite must pass on both."""

    name = "truth"

    def __init__(self, photos, offset=0.0):
        self.lightness, self.ab = [], []
        for photo in photos:
            lab = rgb_to_lab(photo.ground_truth)
            self.lightness.append(lab[..., 0] / 100.0)  # (H, W)
            self.ab.append((lab[..., 1:] / AB_SCALE).transpose(2, 0, 1) + offset)  # (2, H, W)
        self.closed = False

    def _find(self, lightness):
        distances = [np.abs(lightness - known).max() for known in self.lightness]
        best = int(np.argmin(distances))
        assert distances[best] < 1e-4, f"no photo has this L* (nearest differs by {distances[best]:g})"
        return self.ab[best]

    def infer(self, x):
        return np.stack([self._find(x[i, 0]) for i in range(len(x))]).astype(np.float32)

    def close(self):
        self.closed = True


@pytest.fixture
def photos(make_image):
    return [Photo(f"p{i}.png", make_image(SIZE, SIZE, seed=i)) for i in range(3)]


def test_a_backend_with_the_true_colours_scores_near_perfect(photos):
    backends = {"truth": TruthBackend(photos)}
    outcome = run_quality(
        [Config("truth", "fp32")],
        photos,
        ratios=(0.0, 0.01),
        batch_size=2,
        opener=lambda c: backends[c.backend],
        reference=("truth", "fp32"),
        refine=False,  # the propagation assumes an imperfect network; a perfect one is best left alone
    )
    (result,) = outcome.results
    assert result.status == "ok"
    assert [e.ratio for e in result.by_ratio] == [0.0, 0.01]
    for entry in result.by_ratio:
        assert len(entry.psnr_per_image) == 3
        assert entry.psnr >= 50.0  # only Lab -> sRGB uint8 rounding separates it from the truth
        assert entry.ssim >= 0.999
        assert entry.parity is None  # it is the reference
    assert outcome.reference == "truth/fp32"
    assert backends["truth"].closed


def test_parity_against_the_reference_is_in_cie_units(photos):
    backends = {"truth": TruthBackend(photos), "shifted": TruthBackend(photos, offset=0.01)}
    configs = [Config("shifted", "fp32"), Config("truth", "fp32")]
    outcome = run_quality(
        configs, photos, ratios=(0.005,), opener=lambda c: backends[c.backend], reference=("truth", "fp32")
    )
    shifted, truth = outcome.results  # results keep the given order; the reference ran first
    parity = shifted.by_ratio[0].parity
    assert parity.max_abs_ab == pytest.approx(0.01 * AB_SCALE, abs=1e-4)
    assert parity.mean_abs_ab == pytest.approx(0.01 * AB_SCALE, abs=1e-4)
    assert 25.0 < parity.psnr_vs_reference < 60.0
    assert shifted.by_ratio[0].psnr < truth.by_ratio[0].psnr


def test_parity_compares_ab_as_the_runtime_clips_them(photos):
    reference = np.zeros((1, 2, 4, 4), np.float32)
    reference[0, 0, 0, 0] = 3.0  # an overshoot at a border pixel, beyond AB_LIMIT
    other = reference.copy()
    other[0, 0, 0, 0] = 6.5
    other[0, 1, 2, 2] = 0.1
    rgb = [photos[0].ground_truth]
    figures = parity(other, reference, rgb, rgb)
    assert figures["max_abs_ab"] == pytest.approx(0.1 * AB_SCALE)  # the overshoot is clipped in both
    assert figures["mean_abs_ab"] == pytest.approx(0.1 * AB_SCALE / 32)


def test_without_the_reference_the_first_fp32_result_is_used(photos):
    backends = {"truth": TruthBackend(photos), "shifted": TruthBackend(photos, offset=0.02)}
    configs = [
        Config("torch", "fp32").skip("torch is not installed"),
        Config("truth", "fp32"),
        Config("shifted", "bf16"),
    ]
    outcome = run_quality(configs, photos, ratios=(0.0,), opener=lambda c: backends[c.backend])
    assert outcome.reference == "truth/fp32"
    assert outcome.results[0].status == "skipped"
    assert outcome.results[2].by_ratio[0].parity.max_abs_ab == pytest.approx(2.2, abs=1e-4)


def test_broken_backends_are_statuses_not_crashes(photos):
    class NaNBackend(TruthBackend):
        def infer(self, x):
            return np.full((len(x), 2) + x.shape[2:], np.nan, np.float32)

    def opener(config):
        if config.backend == "missing":
            raise FileNotFoundError("bench.safetensors: no such checkpoint")
        return NaNBackend(photos)

    outcome = run_quality([Config("missing", "fp32"), Config("nan", "fp32")], photos, ratios=(0.0,), opener=opener)
    missing, nan = outcome.results
    assert missing.status == "skipped" and "no such checkpoint" in missing.reason
    assert nan.status == "failed" and "non-finite" in nan.reason
    assert outcome.reference is None


def test_hints_are_seeded_per_photo(photos):
    first = prepare(photos, 0.01, seed=5)
    again = prepare(photos, 0.01, seed=5)
    np.testing.assert_array_equal(first.x, again.x)
    assert [len(h) for h in first.hints] == [round(0.01 * SIZE * SIZE)] * 3
    expected = sample_hints(photos[1].ground_truth, 0.01, seed=6)
    np.testing.assert_array_equal(first.hints[1].xy, expected.xy)
    assert first.x.shape == (3, 4, SIZE, SIZE)
    assert prepare(photos, 0.0).x[:, 3].sum() == 0


def test_load_photos_leaves_out_gray_and_broken_files(tmp_path, make_image, save_png):
    save_png(tmp_path / "b.png", make_image(48, 64, seed=1))
    save_png(tmp_path / "a.png", make_image(80, 40, seed=2))
    save_png(tmp_path / "gray.png", np.full((40, 40), 128, np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    photos, left_out = load_photos(tmp_path, SIZE)
    assert [p.name for p in photos] == ["a.png", "b.png"]
    assert all(p.ground_truth.shape == (SIZE, SIZE, 3) and p.ground_truth.dtype == np.uint8 for p in photos)
    reasons = {item["file"]: item["reason"] for item in left_out}
    assert set(reasons) == {"broken.png", "gray.png"}
    assert "not a colour photo" in reasons["gray.png"]
    assert "not a readable image" in reasons["broken.png"]
    assert len(load_photos(tmp_path, SIZE, max_images=1)[0]) == 1


def test_load_photos_refuses_a_missing_or_empty_folder(tmp_path):
    with pytest.raises(QualityError, match="no such folder"):
        load_photos(tmp_path / "nope")
    with pytest.raises(QualityError, match="no colour photos"):
        load_photos(tmp_path)


def test_contact_sheet_layout(photos, tmp_path):
    hints = prepare(photos, 0.01).hints
    results = {"a/fp32": [p.ground_truth[::-1] for p in photos[:2]], "b/bf16": [p.ground_truth for p in photos[:2]]}
    truths = [p.ground_truth for p in photos[:2]]
    sheet = contact_sheet(truths, hints[:2], results, 0.01)
    columns = 5  # gray, hints, two results, ground truth
    assert sheet.shape == (LABEL_HEIGHT + 2 * (SIZE + GAP), columns * SIZE + (columns - 1) * GAP, 3)
    top, left = LABEL_HEIGHT + SIZE + GAP, 4 * (SIZE + GAP)  # second row, last column
    np.testing.assert_array_equal(sheet[top : top + SIZE, left : left + SIZE], truths[1])
    np.testing.assert_array_equal(
        sheet[LABEL_HEIGHT : LABEL_HEIGHT + SIZE, 2 * (SIZE + GAP) : 2 * (SIZE + GAP) + SIZE], truths[0][::-1]
    )
    gray = sheet[LABEL_HEIGHT : LABEL_HEIGHT + SIZE, :SIZE].astype(int)
    assert np.abs(gray[..., 0] - gray[..., 1]).max() <= 1  # the gray column is gray
    path = write_contact_sheet(tmp_path / "sheet.png", sheet)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tiny_model_onnxruntime_matches_torch_fp32(tiny_artifacts, photos):
    configs = plan_configs(tiny_artifacts, backends=["onnxruntime", "torch"], precisions=["fp32"])
    assert [(c.backend, c.status) for c in configs] == [("onnxruntime", "ok"), ("torch", "ok")]
    outcome = run_quality(configs, photos, ratios=(0.0, 0.01), batch_size=2)
    assert outcome.reference == "torch/fp32"
    ort, torch_result = outcome.results
    assert ort.status == torch_result.status == "ok"
    for entry, ref in zip(ort.by_ratio, torch_result.by_ratio):
        assert entry.parity.max_abs_ab < 0.01  # CIE units: float32 rounding only
        assert entry.psnr == pytest.approx(ref.psnr, abs=0.05)
        assert 0.0 < entry.ssim <= 1.0
