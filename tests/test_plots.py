"""Report plots: titles name the set and the models; Chinese, Japanese and Korean words are
drawn with a CJK font (fonts-noto-cjk, one of `make install`'s Debian packages)."""

import warnings

import numpy as np

from alignadapt.evaluation.report import CJK_FONTS, _plt, set_title, timeline_figure


def test_title_names_the_set_and_the_models():
    metrics = {
        "manifest": "/data/med/test_ref.jsonl",
        "models": {"base": "/models/demo-base", "adapted": "/runs/med/adapter"},
    }
    assert set_title(metrics) == "test_ref.jsonl: base = models/demo-base, adapted = med/adapter"


def test_cjk_words_are_drawn_without_missing_glyphs(tmp_path):
    plt = _plt()
    assert any(f in plt.rcParams["font.family"] for f in CJK_FONTS)
    units = ["你", "好", "世", "界", "こ", "한"]
    spans = np.array([[0.1 * i, 0.1 * i + 0.08] for i in range(len(units))])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = timeline_figure(units, [("reference", spans)], title="中文 test")
        fig.savefig(tmp_path / "cjk.png")
    plt.close(fig)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]
