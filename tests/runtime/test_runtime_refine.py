"""Hint-residual correction: identity without hints, exact-ish at dense hints, local, for every backend alike."""

import numpy as np

from msau.runtime.encoding import encode, finish
from msau.runtime.hints import Hints, sample_hints
from msau.runtime.refine import hint_sigma, refine_with_hints


def _input_with_hints(ab_true: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x = np.zeros((4,) + mask.shape, np.float32)
    x[1:3] = ab_true * mask
    x[3] = mask
    return x


def test_without_hints_the_prediction_is_returned_unchanged():
    ab = np.random.default_rng(0).normal(0, 0.2, (2, 32, 48)).astype(np.float32)
    x = np.zeros((4, 32, 48), np.float32)
    assert refine_with_hints(ab, x) is ab


def test_sigma_is_half_the_mean_hint_spacing():
    mask = np.zeros((64, 64), np.float32)
    mask[::8, ::8] = 1  # 64 hints, one per 8x8 cell
    assert hint_sigma(mask) == 4.0
    assert hint_sigma(np.zeros((8, 8), np.float32)) == 0.0


def test_a_constant_error_is_removed_where_hints_are_dense():
    ab_true = np.full((2, 64, 64), 0.3, np.float32)
    ab_true[1] = -0.2
    mask = np.zeros((64, 64), np.float32)
    mask[::4, ::4] = 1  # evenly spread hints, 1/16 of the pixels
    predicted = ab_true - 0.1  # the network is off by 0.1 everywhere
    refined = refine_with_hints(predicted, _input_with_hints(ab_true, mask))
    # With evenly spread hints the confidence fade keeps 1 / (1 + 0.1) of the correction: 0.009 is left.
    np.testing.assert_allclose(refined[:, 4:-4, 4:-4], ab_true[:, 4:-4, 4:-4] - 0.1 * (1 - 1 / 1.1), atol=2e-3)


def test_far_from_every_hint_the_prediction_is_kept():
    ab_true = np.zeros((2, 128, 128), np.float32)
    mask = np.zeros((128, 128), np.float32)
    mask[:4, :4] = 1  # hints in one corner only
    predicted = ab_true + 0.2
    refined = refine_with_hints(predicted, _input_with_hints(ab_true, mask))
    assert abs(float(refined[0, 0, 0])) < 0.05  # corrected at the hints
    np.testing.assert_allclose(refined[:, -1, -1], predicted[:, -1, -1], atol=1e-6)  # untouched far away


def test_finish_applies_the_correction_only_when_asked():
    ramp = np.linspace(0, 1, 64, dtype=np.float32)[None, :]
    photo = (np.stack([ramp.repeat(64, 0), 1 - ramp.repeat(64, 0), np.full((64, 64), 0.3)], axis=2) * 255).astype(np.uint8)
    hints = sample_hints(photo, 0.05, seed=3)
    x, lightness = encode(photo, hints, (64, 64))
    zero_ab = np.zeros((2, 64, 64), np.float32)
    plain = finish(zero_ab, x, lightness, refine=False)
    refined = finish(zero_ab, x, lightness, refine=True)
    ys, xs = hints.xy[:, 1].astype(int), hints.xy[:, 0].astype(int)
    plain_error = np.abs(plain[ys, xs].astype(int) - photo[ys, xs]).mean()
    refined_error = np.abs(refined[ys, xs].astype(int) - photo[ys, xs]).mean()
    assert refined_error < plain_error / 2
    assert np.array_equal(finish(zero_ab, encode(photo, Hints.empty(), (64, 64))[0], lightness), plain)


def test_finish_clips_an_overshooting_network_to_real_colours():
    lightness = np.full((16, 16), 50.0, np.float32)
    x = np.zeros((4, 16, 16), np.float32)
    overshoot = np.full((2, 16, 16), 6.4, np.float32)  # ab/110 = 6.4: no sRGB colour is that far out
    limit = np.ones((2, 16, 16), np.float32)
    assert np.array_equal(finish(overshoot, x, lightness), finish(limit, x, lightness))
