"""Privacy and motion masks: rasterised once per resolution, applied before anything leaves."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.camera.render import snapshot_jpeg
from edge.masks import PRIVACY_FILL, apply_privacy_masks, polygon_mask
from tests import scenarios as S

pytestmark = pytest.mark.quick  # no service: `make test-quick`

SQUARE = [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]


def test_polygon_mask_is_cached_per_resolution_and_read_only():
    a = polygon_mask([SQUARE], 200, 100)
    assert a is polygon_mask([SQUARE], 200, 100)
    b = polygon_mask([SQUARE], 400, 200)
    assert a.shape == (100, 200) and b.shape == (200, 400)
    assert a[50, 100] == 255 and a[10, 10] == 0 and a[50, 160] == 0
    assert abs(np.count_nonzero(b) / b.size - 0.25) < 0.02  # same normalised area at any size
    assert not a.flags.writeable


def test_apply_privacy_masks_returns_a_masked_copy(vtest_path):
    img = S.footage(str(vtest_path), 0.0, 1.0, 5.0)[0]
    out = apply_privacy_masks(img, [SQUARE])
    assert out is not img and not np.shares_memory(out, img)
    h, w = img.shape[:2]
    inside = out[h // 4 + 1:3 * h // 4 - 1, w // 4 + 1:3 * w // 4 - 1]
    assert (inside == PRIVACY_FILL).all()
    assert np.array_equal(out[: h // 5], img[: h // 5])  # outside untouched
    assert img[h // 2, w // 2].tolist() != [PRIVACY_FILL] * 3  # the caller's frame is not changed
    assert np.array_equal(apply_privacy_masks(img, []), img)


def test_snapshot_is_masked_downscaled_and_boxed(vtest_path):
    img = S.footage(str(vtest_path), 0.0, 1.0, 5.0)[0]
    big = cv2.resize(img, (1920, 1080))
    prof = S.make_profile(S.Scenario("snap", {"privacy_masks": [SQUARE]}))
    jpeg = snapshot_jpeg(big, prof, [0.05, 0.05, 0.1, 0.1], [[0.1, 0.2], [0.1, 0.15]], quality=90)
    snap = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snap.shape[:2] == (360, 640)
    inside = snap[100:260, 170:470].astype(int)
    assert np.abs(inside - PRIVACY_FILL).max() < 12  # flat under the mask (JPEG noise only)
    assert snap[18, 32:96, 2].mean() > 150 and snap[18, 32:96, 1].mean() < 120  # red box top edge


def test_nothing_is_detected_under_a_privacy_mask(vtest_path):
    walk = S.walker([(3.0, 0.0, 0.80), (9.0, 0.25, 0.86), (13.0, 0.27, 0.86)])
    zone = {"name": "lawn", "polygon": S.LAWN, "intrusion": {"min_seconds": 1.0}}
    seen = S.run(S.Scenario("unmasked", {"zones": [zone]}, [walk]))
    masked = S.run(S.Scenario("masked", {"zones": [zone], "privacy_masks": [[[0, 0.55], [0.5, 0.55], [0.5, 1], [0, 1]]]},
                              [walk]))
    assert [a.type.value for a in seen] == ["intrusion"]
    assert masked == []


def test_motion_masks_silence_a_region_but_not_the_rest(vtest_path):
    walk = S.walker([(3.0, 0.0, 0.80), (9.0, 0.25, 0.86), (13.0, 0.27, 0.86)])
    zone = {"name": "lawn", "polygon": S.LAWN, "intrusion": {"min_seconds": 1.0}}
    here = S.run(S.Scenario("m1", {"zones": [zone], "motion_masks": [[[0, 0.55], [0.5, 0.55], [0.5, 1], [0, 1]]]},
                            [walk]))
    elsewhere = S.run(S.Scenario("m2", {"zones": [zone], "motion_masks": [[[0.6, 0.0], [1, 0.0], [1, 0.5], [0.6, 0.5]]]},
                                 [walk]))
    assert here == [] and [a.type.value for a in elsewhere] == ["intrusion"]
