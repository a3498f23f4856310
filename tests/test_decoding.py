import numpy as np
import torch

from alignadapt.model.decoding import decode_argmax, monotonic_repair


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
