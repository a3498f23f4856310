"""The checked index of a manifest, kept in a cache so an unchanged manifest is not checked again.

Checking every line of a manifest (parse, split into units, read the audio header) costs
about 34 s per million lines, on every rank and at every resume. The result, the data
module's item index plus the warnings found, depends only on the manifest's bytes, its place
(relative audio paths resolve against its folder), the splitter and the check settings; so
it is stored under a key made of exactly these and reused while they stay the same. A changed
manifest has another digest and is checked again. Hashing the file is the only full pass a
cached start makes (well under a second for a million lines).

What the key does not see: an audio file replaced under the same name. After editing audio
in place, set `data.index_cache=false` once, or delete the cache folder.

The cache folder is `$ALIGNADAPT_CACHE_DIR/manifest-index` (default
`~/.cache/alignadapt/manifest-index`); each entry is one `.npz` written atomically, so ranks
that check at the same time never read a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
VERSION = 2  # bump when the index layout or the checks change
ARRAYS = ("offsets", "lines", "durations", "segments", "segment_units", "segment_times")


def cache_root() -> Path:
    """Where checked indexes live (the folder need not exist yet)."""
    base = os.environ.get("ALIGNADAPT_CACHE_DIR")
    if base:
        return Path(base) / "manifest-index"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "alignadapt" / "manifest-index"


def file_digest(path: str | Path, chunk: int = 8 << 20) -> str:
    """BLAKE2b of the file's bytes (the content half of the key)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def index_key(path: str | Path, digest: str, settings: dict) -> str:
    """The manifest's identity (resolved path) + content (digest) + what the check depended on."""
    ident = json.dumps(
        {"v": VERSION, "path": str(Path(path).resolve()), "digest": digest, **settings},
        sort_keys=True,
        default=str,
    )
    return hashlib.blake2b(ident.encode(), digest_size=20).hexdigest()


def load_index(key: str, root: Path | None = None) -> tuple[dict[str, np.ndarray], dict] | None:
    """(arrays, meta) stored under `key`, or None when there is none (or it is unreadable)."""
    path = (root or cache_root()) / f"{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in ARRAYS}
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
    except (OSError, ValueError, KeyError) as err:
        log.warning("ignoring an unreadable index cache entry %s (%s)", path, err)
        return None
    return arrays, meta


def save_index(
    key: str, arrays: dict[str, np.ndarray], meta: dict, root: Path | None = None
) -> Path | None:
    """Store a checked index atomically; a cache that cannot be written only costs the next start."""
    root = root or cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}-", suffix=".npz", dir=root)
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
                **{name: np.ascontiguousarray(arrays[name]) for name in ARRAYS},
            )
        os.replace(tmp, root / f"{key}.npz")
    except OSError as err:
        log.warning("could not write the manifest index cache in %s (%s)", root, err)
        return None
    return root / f"{key}.npz"
