import pytest
import torch

from alignadapt.model.timing import (
    IGNORE_INDEX,
    class_to_seconds,
    longest_item,
    model_window,
    seconds_to_class,
    slot_labels,
)

TS = 9  # a stand-in <timestamp> id


def test_seconds_to_class_rounds_to_nearest_80ms_class():
    assert seconds_to_class(0.0, 80) == 0
    assert seconds_to_class(0.039, 80) == 0
    assert seconds_to_class(0.04, 80) == 1  # half-way rounds up
    assert seconds_to_class(1.0, 80) == 13  # 12.5 -> 13
    assert seconds_to_class(2.4, 80) == 30
    assert class_to_seconds(30, 80) == pytest.approx(2.4)


def test_slot_labels_fill_only_timestamp_slots_in_order():
    ids = torch.tensor([[0, 0, 5, 5, 7, TS, TS, 8, TS, TS], [5, 5, 5, 7, TS, TS, 8, 8, TS, TS]])
    spans = [[(0.0, 0.4), (0.5, 1.0)], [(0.08, 0.16), (0.24, 0.32)]]
    labels = slot_labels(ids, TS, spans, class_ms=80, num_labels=50)
    expected = torch.full_like(ids, IGNORE_INDEX)
    expected[0, [5, 6, 8, 9]] = torch.tensor([0, 5, 6, 13])
    expected[1, [4, 5, 8, 9]] = torch.tensor([1, 2, 3, 4])
    assert torch.equal(labels, expected)


def test_slot_labels_reject_count_mismatch_and_times_past_last_class():
    ids = torch.tensor([[7, TS, TS, 8, TS, TS]])
    with pytest.raises(ValueError, match="4 <timestamp> slots in the prompt but 2 reference times"):
        slot_labels(ids, TS, [[(0.0, 0.1)]], 80, 50)
    with pytest.raises(ValueError, match="past the last class"):
        slot_labels(ids, TS, [[(0.0, 0.1), (1.0, 4.0)]], 80, 50)


def test_slot_labels_refuse_times_past_the_300_s_the_release_was_trained_on():
    """The head has 5,000 classes (400 s), but the released model was trained on 3,750 (300 s)."""
    ids = torch.tensor([[7, TS, TS]])
    labels = slot_labels(ids, TS, [[(299.0, 300.0)]], 80, 5000)
    assert labels[0, 1:].tolist() == [3738, 3750]  # 300.0 s is class 3,750: still taught
    with pytest.raises(ValueError, match=r"a time of 300\.05 s is past class 3750 \(300 s\)"):
        slot_labels(ids, TS, [[(299.0, 300.05)]], 80, 5000)  # class 3,751


def test_longest_item_comes_from_the_model_and_refuses_what_it_cannot_time():
    # the official longest call within what the classes express (one class of headroom)
    assert longest_item(5000, 80.0) == 180.0  # the released model
    assert longest_item(200, 80.0) == 15.92  # the tiny model: 199 x 80 ms
    assert longest_item(400, 80.0) == 31.92  # the demo base
    assert model_window(5000, 80.0) == 399.92
    # a user's own cap is kept where the model can time it: shorter, or up to the classes
    assert longest_item(200, 80.0, 6.0) == 6.0
    assert longest_item(5000, 80.0, 240.0) == 240.0
    with pytest.raises(ValueError) as err:
        longest_item(200, 80.0, 32.0)
    assert str(err.value) == (
        "data.max_duration=32 s is more than this model can time in one call: at most 15.92 s "
        "(200 classes of 80 ms); set it no higher, or leave it unset (null) for the model's "
        "longest call"
    )
    with pytest.raises(ValueError, match=r"at most 300 s \(5000 classes of 80 ms, trained up to"):
        longest_item(5000, 80.0, 350.0)
    with pytest.raises(ValueError, match="must be a positive number of seconds, not 0"):
        longest_item(200, 80.0, 0.0)
