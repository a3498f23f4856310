import itertools

import numpy as np
import pytest
import torch

from alignadapt.model.decoding import decode, decode_argmax, decode_monotonic, monotonic_repair


def test_monotonic_repair_keeps_a_sorted_sequence():
    x = np.array([0, 80, 80, 160, 400], dtype=float)
    assert monotonic_repair(x).tolist() == x.tolist()


def test_monotonic_repair_snaps_short_and_interpolates_long_outlier_runs():
    # one outlier (800) between kept 160 and 240: snapped to the nearer kept neighbour (left)
    assert monotonic_repair(np.array([0, 160, 800, 240, 320.0])).tolist() == [0, 160, 160, 240, 320]
    # three outliers between kept 100 and 200: linear interpolation
    x = np.array([100, 900, 950, 990, 200, 300, 400, 500.0])
    assert monotonic_repair(x).tolist() == [100, 125, 150, 175, 200, 300, 400, 500]


def test_argmax_decoding_matches_the_processors_decoder(processor, tiny_dir):
    """Same times as transformers' decode_forced_alignment on random logits (many repairs)."""
    from transformers import AutoConfig

    ts = AutoConfig.from_pretrained(tiny_dir).timestamp_token_id
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        n_units = int(torch.randint(1, 12, (1,), generator=gen))
        ids = torch.tensor([[1, 2] + [3, ts, ts] * n_units])
        logits = torch.randn(1, ids.shape[1], 60, generator=gen)
        words = [[f"w{i}" for i in range(n_units)]]
        ref = processor.decode_forced_alignment(logits, ids, words, timestamp_token_id=ts)[0]
        ours = decode_argmax(logits[0][ids[0] == ts], class_ms=80.0)
        expected = [t for item in ref for t in (item["start_time"], item["end_time"])]
        assert np.round(ours.times, 3).tolist() == expected


def test_monotonic_decoding_finds_the_best_non_decreasing_classes():
    """Against brute force over every non-decreasing class sequence, on random logits."""
    gen = torch.Generator().manual_seed(1)
    for _ in range(30):
        n, classes = int(torch.randint(1, 5, (1,), generator=gen)), 6
        logits = torch.randn(n, classes, generator=gen) * 3
        logp = torch.log_softmax(logits.double(), -1).numpy()
        best = max(
            itertools.combinations_with_replacement(range(classes), n),
            key=lambda c: sum(logp[i, k] for i, k in enumerate(c)),
        )
        ours = decode_monotonic(logits, class_ms=80.0)
        assert np.round(ours.times * 1000 / 80).astype(int).tolist() == list(best)
        peak = logits.argmax(-1).numpy()
        assert ours.changed.tolist() == (np.array(best) != peak).tolist()
        assert ours.repaired == int((np.array(best) != peak).sum())


def test_monotonic_decoding_takes_the_place_that_agrees_with_the_neighbours():
    """A slot torn between 3 and 9 (9 a little likelier) among slots sure of 2, 4 and 5: argmax
    takes 9 and the repair snaps it to its left neighbour; monotonic decoding takes 3."""
    logits = torch.full((4, 12), -20.0)
    logits[0, 2] = logits[2, 4] = logits[3, 5] = 10.0
    logits[1, 3], logits[1, 9] = 5.0, 5.5
    assert (decode_argmax(logits, 80.0).times * 1000).round().tolist() == [160, 160, 320, 400]
    assert (decode(logits, 80.0, "monotonic").times * 1000).round().tolist() == [160, 240, 320, 400]
    assert decode_monotonic(torch.zeros(0, 12), 80.0).times.tolist() == []


def test_an_unknown_decoding_names_the_choices():
    with pytest.raises(ValueError, match="argmax, subclass, monotonic"):
        decode(torch.zeros(2, 4), 80.0, "viterbi")
