"""An offline W&B run keeps its metrics only in its binary .wandb file: read them back with
wandb's own record reader and find the metrics, the config and the validation picture."""

import json
import time

import pytest
from wandb.proto import wandb_internal_pb2
from wandb.sdk.internal import datastore

from .test_train import steps, train

pytestmark = pytest.mark.slow


def read_records(path):
    store = datastore.DataStore()
    store.open_for_scan(str(path))
    records = []
    while True:
        data = store.scan_data()
        if data is None:
            break
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        records.append(record)
    return records


def test_offline_wandb_run_records_metrics_config_and_picture(make_cfg, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    import wandb

    wandb.finish()  # no run left open by anything else in this process
    cfg = make_cfg([*steps(3), "logger=wandb", "log_adapter=true"])
    _, run = train(cfg)
    wandb.finish()
    files = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    # wandb-core may still be flushing after finish() returns: read until the exit record is in
    deadline = time.monotonic() + 60
    records = read_records(files[0])
    while (
        not any(r.WhichOneof("record_type") == "exit" for r in records)
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
        records = read_records(files[0])
    history_keys, images, config_keys, artifacts = set(), [], set(), []
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            for item in record.history.item:
                key = item.key or ".".join(item.nested_key)
                history_keys.add(key)
                if key.startswith("val/alignment."):  # an image is logged as nested fields
                    images.append((key.split(".", 1)[1], json.loads(item.value_json)))
        elif kind == "config":
            config_keys.update(item.key or item.nested_key[0] for item in record.config.update)
        elif kind == "artifact":
            artifacts.append(record.artifact)
    for key in ("train/loss", "val/aas_ms", "val/within_50ms", "train/audio_s_per_s", "lr-AdamW"):
        assert key in history_keys, (key, sorted(history_keys))
    image = dict(images)
    assert image["_type"] == "image-file" and image["format"] == "png"
    assert (files[0].parent / "files" / image["path"]).stat().st_size > 1000  # the PNG itself
    assert {"git_commit", "model", "lora", "params/trainable", "global_batch"} <= config_keys
    assert any(a.type == "model" for a in artifacts)
