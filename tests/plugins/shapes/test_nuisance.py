"""The ``nuisance`` split: test scenes with shades, blur, size jitter and a light texture."""

from __future__ import annotations

import numpy as np

from unigame_shapes.world import (BACKGROUNDS, COLOURS, NUISANCE_RANGES, SEEN_COMBOS, SIZES, ShapesWorld,
                                  _gaussian_blur, render)


def test_nuisance_scenes_are_test_like_with_every_variation_in_range() -> None:
    world = ShapesWorld(0, 32)
    for i in range(40):
        scene = world.sample("nuisance", i).scene
        assert scene.background in BACKGROUNDS and all(o.combo in SEEN_COMBOS and o.size in SIZES
                                                       for o in scene.objects)
        (blur_lo, blur_hi), (tex_lo, tex_hi) = NUISANCE_RANGES["blur"], NUISANCE_RANGES["texture"]
        assert blur_lo <= scene.blur <= blur_hi and tex_lo <= scene.texture <= tex_hi
        for o in scene.objects:
            assert NUISANCE_RANGES["scale"][0] <= o.scale <= NUISANCE_RANGES["scale"][1]
            assert NUISANCE_RANGES["shade"][0] <= o.shade <= NUISANCE_RANGES["shade"][1]


def test_other_splits_stay_crisp_and_nuisance_images_are_not() -> None:
    world = ShapesWorld(0, 32)
    palette = {tuple(c) for c in (*COLOURS.values(), *BACKGROUNDS.values())}
    test = world.sample("test", 3)
    assert test.scene.blur == test.scene.texture == 0.0 and all(o.scale == o.shade == 1.0 for o in test.scene.objects)
    assert {tuple(p) for p in test.image.reshape(-1, 3)} <= palette  # crisp: palette colours only
    nuisance = world.sample("nuisance", 3).image
    assert len({tuple(p) for p in nuisance.reshape(-1, 3)} - palette) > 50  # blurred, shaded, textured
    again = world.sample("nuisance", 3)
    assert (again.image == nuisance).all()  # a pure function of (seed, split, index)


def test_a_nuisance_image_stays_close_to_the_crisp_render_of_its_scene() -> None:
    sample = ShapesWorld(0, 32).sample("nuisance", 0)
    crisp = render(type(sample.scene)(objects=sample.scene.objects, background=sample.scene.background), 32)
    assert np.abs(crisp.astype(float) - sample.image.astype(float)).mean() < 25  # a light nuisance, same scene


def test_gaussian_blur_keeps_a_flat_image_flat_and_spreads_an_edge() -> None:
    flat = np.full((8, 8, 3), 100.0)
    assert np.allclose(_gaussian_blur(flat, 0.8), flat)
    edge = np.zeros((8, 8, 1))
    edge[:, 4:] = 255.0
    out = _gaussian_blur(edge, 0.8)
    assert 0 < out[0, 3, 0] < 255 and out[0, 0, 0] < 1 and out[0, 7, 0] > 254
