"""Optical flow, warping, Ruder's masks, the temporal term and the flicker measure, against known motion."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")

from explainer import flow, temporal
from explainer.images import resize_longest
from explainer.samples import sample_content


@pytest.fixture(scope="module")
def pair():
    """Two crops of the photo: `b` is `a` moved 3 px to the left and 2 px up (b[y, x] = a[y + 2, x + 3])."""
    photo = resize_longest(sample_content(), 320)
    a = photo[40:200, 30:230]
    b = photo[42:202, 33:233]
    return a, b


def test_warp_moves_pixels_by_the_flow_exactly():
    rng = np.random.default_rng(0)
    image = rng.random((12, 16, 3)).astype(np.float32)
    moved = np.asarray(flow.warp(image, flow.shift_flow((12, 16), 3.0, 2.0)))
    np.testing.assert_allclose(moved[:10, :13], image[2:, 3:], atol=1e-6)  # out[y, x] = image[y + 2, x + 3]
    half = np.asarray(flow.warp(image[..., 0], flow.shift_flow((12, 16), 0.5, 0.0)))
    np.testing.assert_allclose(half[:, :15], (image[:, :15, 0] + image[:, 1:, 0]) / 2, atol=1e-6)  # bilinear


def test_dis_flow_finds_a_known_shift_and_warping_with_it_reproduces_the_frame(pair):
    a, b = pair
    backward, forward = flow.flow_pair(a, b)
    inner = (slice(8, -8), slice(8, -8))
    # backward (b -> a): b[y, x] = a[y + 2, x + 3]; forward is the opposite
    assert np.median(backward[inner][..., 0]) == pytest.approx(3.0, abs=0.05)
    assert np.median(backward[inner][..., 1]) == pytest.approx(2.0, abs=0.05)
    assert np.median(forward[inner][..., 0]) == pytest.approx(-3.0, abs=0.05)
    warped = np.asarray(flow.warp(a, backward))
    assert np.abs(warped[inner] - b[inner]).mean() < 0.1 * np.abs(a[inner] - b[inner]).mean()


def test_the_occlusion_mask_marks_the_uncovered_border_and_little_else(pair):
    a, b = pair
    backward, forward = flow.flow_pair(a, b)
    occluded = flow.occlusion_mask(forward, backward)
    # b's last 3 columns and last 2 rows were outside a: not visible in the previous frame
    assert occluded[:, -3:].all() and occluded[-2:, :].all()
    assert occluded[:-4, :-5].mean() < 0.02
    mask = flow.consistency_mask(forward, backward)
    assert mask[:, -3:].max() == 0.0 and mask.mean() > 0.9


def test_ruders_occlusion_test_with_hand_made_flows():
    shape = (6, 8)
    backward = flow.shift_flow(shape, 1.0, 0.0)
    consistent = flow.occlusion_mask(flow.shift_flow(shape, -1.0, 0.0), backward)
    assert not consistent[:, :-1].any() and consistent[:, -1].all()  # only the column that came from outside
    # forward and backward disagree by 1 px: |w~ + w^|^2 = 1 > 0.01 * (0 + 1) + 0.5
    disagree = flow.occlusion_mask(flow.shift_flow(shape, 0.0, 0.0), backward)
    assert disagree.all()
    # a disagreement of 0.7 px: 0.49 < 0.01 * (0.09 + 1) + 0.5 = 0.5109: still consistent
    assert not flow.occlusion_mask(flow.shift_flow(shape, -0.3, 0.0), backward)[:, :-1].any()


def test_motion_boundaries_lie_where_the_flow_jumps():
    backward = np.zeros((8, 10, 2), np.float32)
    backward[:, 5:, 0] = 4.0  # the right half moves 4 px
    boundary = flow.motion_boundaries(backward)
    # central differences: |grad u|^2 = (4/2)^2 = 4 at columns 4 and 5; > 0.01 * 16 + 0.002
    assert boundary[:, 4:6].all() and not boundary[:, :4].any() and not boundary[:, 6:].any()


def test_the_temporal_term_is_the_masked_mean_square_in_255_units():
    warped = np.full((4, 5, 3), 0.5, np.float32)
    mask = np.zeros((4, 5), np.float32)
    mask[:2] = 1.0  # half the pixels count
    image = np.full((4, 5, 3), 0.5 + 2 / 255, np.float32)
    term = temporal.temporal_term(warped, mask, weight=3.0)
    value = float(temporal.temporal_loss(image, term.target(image)))
    assert value == pytest.approx(0.5 * 4.0, rel=1e-5)  # half the pixels, (2)^2 each
    assert term.name == "temporal" and term.weight == 3.0
    # every frame's term is the same static term: one compiled step serves them all
    other = temporal.temporal_term(warped + 0.1, 1 - mask, weight=3.0)
    assert term == other and hash(term) == hash(other)


def test_frame_change_is_zero_for_a_perfect_warp_and_counts_only_kept_pixels():
    rng = np.random.default_rng(1)
    previous = rng.random((10, 12, 3)).astype(np.float32)
    shift = flow.shift_flow((10, 12), 2.0, 0.0)
    current = np.asarray(flow.warp(previous, shift))
    mask = np.ones((10, 12), np.float32)
    assert temporal.frame_change(current, previous, shift, mask) == pytest.approx(0.0, abs=1e-7)
    noisy = current.copy()
    noisy[:, :6] += 0.1  # a change of 0.1 on the left half only
    assert temporal.frame_change(noisy, previous, shift, mask) == pytest.approx(0.05, abs=1e-6)
    mask[:, 6:] = 0.0
    assert temporal.frame_change(noisy, previous, shift, mask) == pytest.approx(0.1, abs=1e-6)


def test_the_sample_clip_moves_as_its_true_flow_says_and_dis_agrees():
    clip = temporal.camera_move(seconds=1.0, fps=8, size=128)
    assert clip.frames.shape == (8, 72, 128, 3) and clip.fps == 8
    for t in (1, 4, 7):
        # warping the previous frame with the true backward flow gives this frame, up to interpolation
        interior = (slice(4, -4), slice(4, -4))
        warped = np.asarray(flow.warp(clip.frames[t - 1], clip.backward[t]))
        moved = np.abs(clip.frames[t] - clip.frames[t - 1])[interior].mean()
        assert np.abs(warped - clip.frames[t])[interior].mean() < 0.15 * moved
        backward, _ = flow.flow_pair(clip.frames[t - 1], clip.frames[t])
        assert np.median(np.abs(backward - clip.backward[t])[interior]) < 0.15  # pixels
    # the true forward flow undoes the backward one: only what entered the picture (the camera pans up) is occluded
    occluded = flow.occlusion_mask(clip.forward[4], clip.backward[4])
    np.testing.assert_array_equal(occluded, flow.outside(clip.backward[4]))
    assert occluded[0].all() and not occluded[-1].any()
