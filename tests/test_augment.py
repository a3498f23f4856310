"""Augmentation moves the labels with the audio, exactly: clicks placed at every reference
time are found again where the new timestamps say, after each kind and after all of them."""

import numpy as np
import pytest

from alignadapt.data.augment import (
    AugmentSpec,
    add_noise,
    add_silence,
    apply_gain,
    augment,
    change_speed,
)
from alignadapt.data.datamodule import AlignDataModule

SR = 16000
SPANS = [(0.25, 0.5), (0.75, 1.125), (1.5, 1.8125)]  # exact sample positions at 16 kHz


def clicks(spans, seconds=2.2):
    """Silence with a unit click at every start and end."""
    audio = np.zeros(int(seconds * SR), np.float32)
    for s, e in spans:
        audio[round(s * SR)] = audio[round(e * SR)] = 1.0
    return audio


def click_times(audio, count):
    """Times of the `count` largest isolated peaks (one per 50 ms)."""
    found, work = [], np.abs(audio).copy()
    for _ in range(count):
        i = int(np.argmax(work))
        found.append(i / SR)
        work[max(0, i - 800) : i + 800] = 0
    return sorted(found)


def flat(spans):
    return [t for span in spans for t in span]


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_scales_audio_and_timestamps_by_the_same_ratio(factor):
    audio, spans = change_speed(clicks(SPANS), SPANS, factor)
    assert len(audio) == pytest.approx(len(clicks(SPANS)) / factor, abs=1)
    assert flat(spans) == pytest.approx([t / factor for t in flat(SPANS)], abs=1e-9)
    assert click_times(audio, 6) == pytest.approx(flat(spans), abs=1 / SR)  # within a sample


def test_silence_shifts_timestamps_by_the_leading_part_exactly():
    original = clicks(SPANS)
    audio, spans = add_silence(original, SPANS, lead=4000, trail=800)
    assert len(audio) == len(original) + 4800
    assert np.array_equal(audio[4000 : 4000 + len(original)], original)
    assert flat(spans) == [t + 0.25 for t in flat(SPANS)]
    assert click_times(audio, 6) == flat(spans)


def test_gain_and_noise_leave_timestamps_and_hit_their_levels():
    rng = np.random.default_rng(0)
    speech = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    assert np.allclose(apply_gain(speech, 6.0), speech * 10 ** (6 / 20), rtol=1e-5)
    noisy = add_noise(speech, 20.0, rng)
    snr = 10 * np.log10(np.sum(speech**2) / np.sum((noisy - speech) ** 2))
    assert snr == pytest.approx(20.0, abs=0.01)


def test_all_kinds_together_keep_clicks_on_their_labels():
    spec = AugmentSpec.from_dict(
        {
            "speed": {"prob": 1.0, "factors": [1.1]},
            "silence": {"prob": 1.0, "max_seconds": 0.3},
            "gain": {"prob": 1.0, "db": [-3.0, -3.0]},
            "noise": {"prob": 1.0, "snr_db": [60.0, 60.0]},
        }
    )
    audio, spans = augment(clicks(SPANS), SPANS, spec, np.random.default_rng(3))
    assert flat(spans) != pytest.approx(flat(SPANS))
    assert click_times(audio, 6) == pytest.approx(flat(spans), abs=1 / SR)


def test_off_by_default_and_unknown_kinds_are_refused():
    spec = AugmentSpec.from_dict(None)
    assert not spec.active
    audio = clicks(SPANS)
    out, spans = augment(audio, SPANS, spec, np.random.default_rng(0))
    assert np.array_equal(out, audio) and spans == SPANS
    with pytest.raises(ValueError, match=r"unknown kind\(s\) \['reverb'\]"):
        AugmentSpec.from_dict({"reverb": {"prob": 1.0}})


def test_config_switches_augmentation_on_for_training_lines_only(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg(["data.augment.silence.prob=1.0", "data.augment.silence.max_seconds=0.2"])
    assert make_cfg([]).data.augment.speed.prob == 0.0  # off unless asked
    dm: AlignDataModule = instantiate(cfg.data)
    dm.setup("fit")
    train, val = dm.datasets["train"], dm.datasets["val"]
    assert train.augment is not None and train.augment.silence.prob == 1.0 and val.augment is None
    plain = train[0]
    (moved,) = train[(0, [0])]  # what the batch plan asks for in epoch 0
    lead = len(moved.audio) - len(plain.audio)  # lead + trail samples
    assert 0 < lead <= 2 * 0.2 * SR
    shift = moved.spans[0][0] - plain.spans[0][0]
    assert np.array_equal(moved.audio[round(shift * SR) :][: len(plain.audio)], plain.audio)
    assert flat(moved.spans) == pytest.approx([t + shift for t in flat(plain.spans)], abs=1e-12)
    (again,) = train[(0, [0])]
    assert np.array_equal(again.audio, moved.audio)  # same seed, epoch and line: same draw
