"""Base model versus adapted models on a held-out manifest: the work behind evaluate.py.

Each model runs over the manifest's requests in one call (`Aligner.align_many`),
each decoding asked for becomes a column, every prediction set from another tool
(`predictions`, data/external.py) becomes a column too, and `write_report` writes
metrics.json, the table, words.csv and the plots into one folder, and logs them to W&B when
a W&B logger is given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.audio import load_audio
from ..data.external import MapError, map_to_units, read_predictions, words_for
from ..data.manifest import Utterance, iter_manifest
from ..inference.aligner import Aligner, AlignerSettings, AlignRequest
from ..inference.batching import in_input_order, sorted_map
from ..inference.service import Prepared
from ..model.decoding import Decoded
from ..model.prompt import split_units
from ..model.reference import ModelReference, load_processor, read_reference
from ..review_web.static_page import write_review_page
from ..tasks import TaskResult
from .listening import donor_audios, summarize_listening, verdict
from .metrics import slot_errors_ms
from .naive import naive_align
from .report import (
    UttResult,
    bootstrap_aas_difference,
    column_metrics,
    format_table,
    plot_error_by_position,
    plot_error_by_time,
    plot_error_distribution,
    plot_timeline,
    set_title,
    worst_words,
    write_words_csv,
)

log = logging.getLogger(__name__)


@dataclass
class Item:
    """A scored line: its key (manifest:line), the utterance, and the request to align it."""

    key: str
    utt: Utterance
    request: AlignRequest

    @property
    def units(self) -> list[str]:
        return self.request.units or []


def read_items(manifest: str | Path, processor) -> tuple[list[Item], list[dict]]:
    """Lines with a reference that matches their units, and every other line with its problem."""
    items, mismatched = [], []
    for utt in iter_manifest(manifest):
        key = f"{Path(manifest).name}:{utt.line}"
        units = split_units(processor, utt.text, utt.language)
        if not utt.spans:
            problem = "no reference timestamps"
        elif len(utt.spans) != len(units):
            problem = (
                f"{len(units)} units as the aligner splits the text, {len(utt.spans)} "
                f"reference pairs (units: {' '.join(units[:12])}{' ...' if len(units) > 12 else ''})"
            )
        else:
            request = AlignRequest.of(utt, units, name=key, scored=True)
            items.append(Item(key, utt, request))
            continue
        mismatched.append({"key": key, "problem": problem})
        log.warning("%s: not scored: %s", key, problem)
    return items, mismatched


def own_label_warnings(
    items: Sequence[Item], identities: dict[str, str], manifest: str | Path
) -> dict[str, dict]:
    """Which models are scored against references they made themselves (pseudo-labels record
    their model), and a warning for each: such a score measures self-agreement, not accuracy
    (the base scored on its own pseudo-labels gets an AAS near 0)."""
    by_model: dict[str, int] = {}
    for item in items:
        if item.utt.labelled_by:
            by_model[item.utt.labelled_by] = by_model.get(item.utt.labelled_by, 0) + 1
    out = {}
    for name, identity in identities.items():
        count = by_model.get(identity, 0)
        if count:
            out[name] = {"model": identity, "lines": count}
            log.warning(
                "%s: %d of %d reference lines are pseudo-labels made by %s itself (%s): its "
                "score on them measures agreement with itself, not accuracy. Score it on "
                "references a person checked (alignadapt review) or another tool made "
                "(alignadapt prepare textgrid/ctm).",
                manifest,
                count,
                len(items),
                name,
                identity,
            )
    others = sum(n for model, n in by_model.items() if model not in identities.values())
    if others:
        log.warning(
            "%s: %d of %d reference lines are another model's pseudo-labels: scores measure "
            "agreement with that model",
            manifest,
            others,
            len(items),
        )
    return out


def predict_model(
    name: str,
    source: str | ModelReference,
    base: str | None,
    items: Sequence[Item],
    settings: AlignerSettings,
    listening: bool = False,
) -> tuple[list[dict], list[dict | None]]:
    """Decoded alignments per item (one dict decoding -> Decoded each) for one model, in the
    items' order; batches are formed shortest first (`Aligner.align_many`'s batches). With
    `listening`, each recording within one call is aligned a second time with its audio
    withheld (evaluation/listening.py); those come second (None for longer recordings).
    `source` may be a reference already read (a checkpoint is then not read again)."""
    aligner = Aligner.load(source, base, settings)
    prepared = [aligner.prepare(it.request) for it in items]

    def run_batch(chunk: list[Prepared]) -> list[tuple[dict, dict | None]]:
        chunk = [aligner.read_short(p) for p in chunk]  # the donors are this batch's audio
        decoded = [r.alignment.decoded for r in aligner.align_batch(chunk)]
        withheld: list[dict | None] = [None] * len(chunk)
        short = [i for i, p in enumerate(chunk) if p.samples is not None]
        if listening and short:
            donors = donor_audios([chunk[i].samples for i in short])
            swapped = aligner.align(donors, [chunk[i].units for i in short])
            for i, alignment in zip(short, swapped, strict=True):
                withheld[i] = alignment.decoded
        return list(zip(decoded, withheld, strict=True))

    lengths = [p.seconds for p in prepared]
    with tqdm(total=len(items), desc=f"aligning with {name}", unit="utt") as bar:
        pairs = sorted_map(prepared, lengths, settings.batch_size, run_batch, progress=bar.update)
        both = in_input_order(pairs, len(items))
    return [d for d, _ in both], [w for _, w in both]


def listening_check(
    results: Sequence[UttResult], column: str, withheld: Sequence[dict | None], decoding: str
) -> dict:
    """The listening figures of one model column (evaluation/listening.py)."""
    errors, deaf, changed, slots = [], [], 0, 0
    for result, swapped in zip(results, withheld, strict=True):
        if swapped is None:
            continue
        own = result.predictions[column].times
        errors.append(result.errors(column))
        deaf.append(slot_errors_ms(swapped[decoding].times, result.reference))
        changed += int(np.sum(np.abs(np.ravel(own) - np.ravel(swapped[decoding].times)) > 1e-6))
        slots += np.ravel(own).size
    if not errors:
        return {}
    return summarize_listening(np.concatenate(errors), np.concatenate(deaf), changed, slots)


def run_evaluation(
    manifest: str | Path,
    models: dict[str, str],
    base: str | None,
    out_dir: str | Path,
    settings: AlignerSettings | None = None,
    terms: Sequence[str] = (),
    worst: int = 5,
    bootstrap: int = 1000,
    seed: int = 0,
    loggers: Sequence = (),
    naive: bool = True,
    predictions: dict[str, dict] | None = None,
    listening: bool = True,
) -> dict:
    """Run the base and every adapted model, write the report, return metrics.json's content.

    `listening` aligns every recording within one call a second time with another recording's
    audio in its place and reports how much worse each model gets (evaluation/listening.py).

    `naive` adds the baseline that spreads units over the voiced span by length (naive.py);
    `predictions` maps a column name to another tool's output: {path, format, tier}.
    `bootstrap` resamples give each model's AAS difference to the base and to naive a 95%
    interval (`vs_base`, `vs_naive`); 0 leaves the differences out.
    """
    settings = settings or AlignerSettings()
    decodings = settings.decodings
    # each model read once, here (a checkpoint with its weights), onto `base` when one is given
    refs = {name: read_reference(source, base) for name, source in models.items()}
    base = base or next((r.base for r in refs.values() if r.kind != "model"), None)
    if not base:
        raise ValueError(
            "no base model: set base=... (a hub id or directory), or give an adapted model "
            "that names its base (an adapter directory or a train.py checkpoint)"
        )
    sources = {"base": base, **{k: str(v) for k, v in models.items() if v}}
    processor, _ = load_processor(base)
    items, mismatched = read_items(manifest, processor)
    if not items:
        raise ValueError(f"{manifest}: no line with reference timestamps matching its units")
    identities = {"base": read_reference(base).source} | {k: r.source for k, r in refs.items()}
    self_labelled = own_label_warnings(items, identities, manifest)
    term_units = {u.lower() for t in terms for u in split_units(processor, t, None)}
    results = [
        UttResult(
            it.key,
            it.units,
            it.request.reference,
            it.utt.language or "unknown",
            str(it.utt.audio_path),
            channel=it.utt.channel,
        )
        for it in items
    ]
    columns: list[str] = []
    checks: dict[str, dict] = {}
    for name, source in sources.items():
        model = refs.get(name, source) if name != "base" else source
        predicted, withheld = predict_model(
            name, model, None if name == "base" else base, items, settings, listening
        )
        for decoding in decodings:
            column = name if len(decodings) == 1 else f"{name}/{decoding}"
            columns.append(column)
            for result, decoded in zip(results, predicted, strict=True):
                result.predictions[column] = decoded[decoding]
        if listening:
            checks[name] = listening_check(
                results, columns[-len(decodings)], withheld, decodings[0]
            )
            if checks[name] and not checks[name]["listens"]:
                log.warning(verdict(name, checks[name]))
    mapping = {}
    for name, spec in (predictions or {}).items():
        if name in columns or name == "naive":
            raise ValueError(f"predictions.{name}: the name is taken by a model column; rename it")
        mapping[name] = add_external_column(name, spec, results)
        columns.append(name)
    if naive:  # the no-model baseline: a model that does not beat it is not worth its cost
        columns.append("naive")
        for result in results:
            times = naive_align(load_audio(result.audio_path), result.units)
            result.predictions["naive"] = Decoded(times=times, repaired=0)
    metrics: dict = {
        "manifest": str(manifest),
        "models": sources,
        "decodings": list(decodings),
        "utterances": len(results),
        "terms": sorted(term_units),
        "columns": {c: column_metrics(results, c, term_units) for c in columns},
        "mismatched": mismatched,
        "self_labelled": self_labelled,
        "mapping": mapping,
        "listening": checks,
    }
    base_columns = {d: ("base" if len(decodings) == 1 else f"base/{d}") for d in decodings}
    vs_base = {}
    for column in columns:
        decoding = column.split("/")[1] if "/" in column else decodings[0]
        if column in mapping:  # another tool: against the base's first decoding
            decoding = decodings[0]
            if not mapping[column]["utterances"]:
                continue  # nothing mapped: nothing to compare (the report lists why)
        if not column.startswith("base") and column != "naive" and bootstrap > 0:
            vs_base[column] = {
                "base": base_columns[decoding],
                **bootstrap_aas_difference(
                    results, column, base_columns[decoding], bootstrap, seed
                ),
            }
    metrics["vs_base"] = vs_base
    against_naive = "naive" in columns and bootstrap > 0  # does a model beat no model?
    metrics["vs_naive"] = {
        column: {
            "base": "naive",
            **bootstrap_aas_difference(results, column, "naive", bootstrap, seed),
        }
        for column in columns
        if against_naive
        and column != "naive"
        and (column not in mapping or mapping[column]["utterances"])
    }
    write_report(Path(out_dir), metrics, results, columns, term_units, worst, loggers)
    return metrics


def add_external_column(name: str, spec, results: Sequence[UttResult]) -> dict:
    """Map another tool's words onto every reference line; what could not be is listed."""
    spec = {"path": spec} if isinstance(spec, str) else dict(spec)
    unknown = set(spec) - {"path", "format", "tier"}
    if unknown or "path" not in spec:
        raise ValueError(
            f"predictions.{name}: give a path, or {{path, format, tier}} (got {sorted(spec)})"
        )
    found = read_predictions(
        name, spec["path"], spec.get("format", "auto"), spec.get("tier", "words")
    )
    unmapped, units, approximate = [], 0, 0
    for r in tqdm(results, desc=f"mapping {name}", unit="utt", disable=len(results) < 50):
        words = words_for(found, Path(r.audio_path), r.channel)
        try:
            if words is None:
                stem = Path(r.audio_path).stem
                raise MapError(found.problems.get(stem, f"no prediction for recording {stem!r}"))
            mapped = map_to_units(r.units, words)
        except MapError as err:
            unmapped.append({"key": r.key, "problem": str(err)})
            log.warning("%s: %s: not mapped: %s", name, r.key, err)
            continue
        r.predictions[name] = Decoded(times=mapped.times, repaired=0)
        units += len(r.units)
        approximate += mapped.approximate
    return {
        "source": str(spec["path"]),
        "format": spec.get("format", "auto"),
        "utterances": len(results) - len(unmapped),
        "of": len(results),
        "units": units,
        "approximate_units": approximate,
        "untimed_words": found.untimed,
        "unmapped": unmapped,
        "unreadable": [{"source": k, "problem": v} for k, v in found.problems.items()],
    }


def write_report(
    out_dir: Path,
    metrics: dict,
    results: Sequence[UttResult],
    columns: Sequence[str],
    terms: set[str],
    worst: int,
    loggers: Sequence = (),
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = out_dir / "plots"
    plots.mkdir(exist_ok=True)
    table = format_table(metrics)
    print(table)
    (out_dir / "table.txt").write_text(table + "\n")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_words_csv(out_dir / "words.csv", results, columns, terms)
    title = set_title(metrics)
    images = {
        "error_distribution": plot_error_distribution(
            results, columns, plots / "error_distribution.png", title
        ),
        "error_by_position": plot_error_by_position(
            results, columns, plots / "error_by_position.png", title=title
        ),
        "error_by_time": plot_error_by_time(
            results, columns, plots / "error_by_time.png", title=title
        ),
    }
    # worst utterances: by their mean AAS over the columns
    order = np.argsort(
        [-np.mean([r.errors(c).mean() for c in columns if c in r.predictions]) for r in results]
    )
    for rank, i in enumerate(order[:worst]):
        r = results[i]
        images[f"worst_{rank + 1}"] = plot_timeline(
            r, columns, load_audio(r.audio_path), plots / f"worst_{rank + 1}.png", title=title
        )
    write_review_page(out_dir, results, columns)  # review/index.html: each model's worst lines
    log_to_wandb(loggers, metrics, images, results, columns)


def flatten(prefix: str, value) -> dict[str, float]:
    if isinstance(value, dict):
        return {
            k: v for key, sub in value.items() for k, v in flatten(f"{prefix}/{key}", sub).items()
        }
    return {prefix: value} if isinstance(value, int | float) else {}


def log_to_wandb(loggers: Sequence, metrics: dict, images: dict, results, columns) -> None:
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            continue
        import wandb

        run = logger.experiment
        scalars = flatten("eval", metrics["columns"]) | flatten("eval/vs_base", metrics["vs_base"])
        scalars |= flatten("eval/vs_naive", metrics["vs_naive"])
        run.log(scalars | {f"eval/plots/{k}": wandb.Image(str(p)) for k, p in images.items()})
        for column in columns:
            rows = worst_words(results, column)
            table = wandb.Table(columns=list(rows[0]) if rows else ["key"])
            for row in rows:
                table.add_data(*row.values())
            run.log({f"eval/worst_words/{column}": table})
        run.summary.update(scalars)


def evaluate(cfg) -> TaskResult:
    """The evaluate.py task: check the config, run every model, write the report."""
    from omegaconf import OmegaConf

    from ..tasks import instantiate_group

    out_dir = Path(cfg.out_dir)
    if (out_dir / "metrics.json").exists() and not cfg.force:
        raise FileExistsError(f"{out_dir} already holds a report; pass force=true to replace it")
    terms = list(cfg.terms or [])
    if cfg.terms_file:
        terms += [t.strip() for t in Path(cfg.terms_file).read_text().splitlines() if t.strip()]
    models = {k: v for k, v in (cfg.models or {}).items() if v}
    settings = AlignerSettings.from_config(cfg.aligner)
    loggers = instantiate_group(cfg.get("logger"))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    metrics = run_evaluation(
        cfg.manifest,
        models,
        cfg.base,
        out_dir,
        settings=settings,
        terms=terms,
        worst=cfg.worst,
        bootstrap=cfg.bootstrap,
        seed=cfg.seed,
        loggers=loggers,
        naive=cfg.get("naive", True),
        predictions=OmegaConf.to_container(cfg.predictions) if cfg.get("predictions") else None,
        listening=cfg.get("listening", True),
    )
    return TaskResult(
        {"utterances": float(metrics["utterances"])},
        {"report": out_dir, "table": out_dir / "table.txt"},
    )
