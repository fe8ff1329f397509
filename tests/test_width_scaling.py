"""The width table's answer (analyses/width_scaling.py): where bias-only comes within 0.05 of
full training, on small hand-made tables whose answer is read off by eye."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "width_scaling", Path(__file__).resolve().parents[1] / "analyses" / "width_scaling.py")
ws = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ws)


def _row(mode, n, acc, precision="fp32"):
    return {"mode": mode, "n_units": n, "precision": precision, "acc": acc}


TABLE = [
    _row("bias", 128, 0.50), _row("bias", 256, 0.80), _row("bias", 512, 0.90),
    _row("bias", 1024, 0.93, "bf16"),
    _row("full", 128, 0.90), _row("full", 256, 0.90), _row("full", 512, 0.97),
]


def test_crossing_compares_at_the_same_width_only():
    # 256: 0.80 vs 0.90 (0.10 short); 512: 0.90 vs 0.97 (0.07 short); 1024: full not run
    assert ws.crossing(TABLE, "acc") is None
    # with a margin of 0.08, 512 is the first width within it (256 is still 0.10 short)
    assert ws.crossing(TABLE, "acc", margin=0.08) == 512
    # exactly at the margin counts: 0.80 >= 0.90 - 0.10 (up to float rounding: 0.101)
    assert ws.crossing(TABLE, "acc", margin=0.101) == 256


def test_widest_reference_uses_full_training_at_its_widest_width():
    said = ws._said_widest(TABLE, "acc")
    # full's widest is 512 (0.97); bias reaches 0.93 >= 0.92 first at 1024 (a bf16 point)
    assert said.startswith("N = 1024 (0.93 against 0.97 at N = 512)")
    short = [r for r in TABLE if not (r["mode"] == "bias" and r["n_units"] == 1024)]
    assert ws._said_widest(short, "acc") == (
        "not within 0.05 at any measured width (best 0.90 at N = 512, against 0.97 at N = 512)")
    assert ws._said_widest([r for r in TABLE if r["mode"] == "bias"], "acc") == (
        "full training not measured")


def test_summaries_keep_precisions_apart():
    rows = [{"mode": "bias", "precision": p, "n_units": 2048, "seed": s, "n_trainable": 7,
             "accuracy_mean": a, "steps": 3000, "accuracy/x": a}
            for p, s, a in [("fp32", 0, 0.9), ("bf16", 0, 0.8), ("bf16", 1, 0.7)]]
    table = ws.summarise(rows, "accuracy_mean")
    got = {(r["precision"], r["seeds"]): round(r["accuracy_mean_mean"], 6) for r in table}
    assert got == {("fp32", 1): 0.9, ("bf16", 2): 0.75}
    tasks = {r["precision"]: round(r["accuracy/x"], 6) for r in ws.per_task(rows)}
    assert tasks == {"fp32": 0.9, "bf16": 0.75}
