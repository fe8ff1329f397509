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


def test_answers_carry_the_gap_and_its_seed_spread():
    # bias 0.91 ± 0.005 and full 0.96 ± 0.010, 3 seeds each: gap 0.05, SE of the difference
    # sqrt(0.005**2/3 + 0.010**2/3) = 0.00645: inside 2 SE of the line, so not a firm answer
    rows = [{"mode": "bias", "n_units": 2048, "seeds": 3, "acc_mean": 0.91, "acc_sd": 0.005},
            {"mode": "full", "n_units": 1024, "seeds": 3, "acc_mean": 0.96, "acc_sd": 0.010}]
    said = ws._said_widest(rows, "acc_mean", margin=0.051)
    assert said == ("N = 2048 (0.91 against 0.96 at N = 1024; gap 0.050 ± 0.006 SE over seeds, "
                    "within 2 SE of the 0.051 line: not a firm answer)")
    # a gap of 0.02 with SE 0.001 is far from the line: no warning
    tight = [dict(rows[0], acc_mean=0.94, acc_sd=0.001), dict(rows[1], acc_sd=0.001)]
    assert ws._said_widest(tight, "acc_mean").endswith("; gap 0.020 ± 0.001 SE over seeds)")
    # short of the line by 0.15 ± 0.04 (per-task SD keys: <task>_sd): stated, no warning
    task = [{"mode": "bias", "n_units": 2048, "seeds": 3, "t": 0.74, "t_sd": 0.0},
            {"mode": "full", "n_units": 2048, "seeds": 3, "t": 0.89, "t_sd": 0.0693}]
    assert ws._said_widest(task, "t").endswith(
        "against 0.89 at N = 2048; gap 0.150 ± 0.040 SE over seeds)")
    assert ws._said(2048, task, "t", margin=0.3) == (
        "N = 2048 (0.74 against 0.89; gap 0.150 ± 0.040 SE over seeds)")
    assert ws._said(2048, task, "t", margin=0.2).endswith(
        "within 2 SE of the 0.2 line: not a firm answer)")
    assert ws._said(None, task) == "not within 0.05 at any measured width (2048)"


def test_scores_replace_every_runs_own_evaluation(tmp_path, monkeypatch, capsys):
    import pytest

    monkeypatch.chdir(tmp_path)  # reevaluate.py writes run paths relative to where it ran
    table = tmp_path / "scores.csv"
    table.write_text("run,accuracy_mean,accuracy/a,accuracy/b\n"
                     "sw/runs/n=1__seed=0,0.75,0.5,1.0\n"
                     "sw/runs/n=1__seed=1,0.25,0.0,0.5\n")
    rows = [{"dir": Path("sw/runs/n=1__seed=0"), "accuracy_mean": 0.9, "accuracy/a": 0.8,
             "accuracy/b": 1.0, "accuracy/c": 0.7},
            {"dir": tmp_path / "sw/runs/n=1__seed=1", "accuracy_mean": 0.6, "accuracy/a": 0.2}]
    ws.rescore(rows, ws.read_scores([str(table)], "accuracy_mean"), "accuracy_mean")
    assert rows[0] == {"dir": Path("sw/runs/n=1__seed=0"), "accuracy_mean": 0.75,
                       "accuracy/a": 0.5, "accuracy/b": 1.0}  # no task kept from before
    assert rows[1]["accuracy_mean"] == 0.25 and rows[1]["accuracy/b"] == 0.5
    # a run the tables do not score: one line, exit 2 (no table of mixed sources)
    with pytest.raises(SystemExit) as stop:
        ws.rescore([{"dir": Path("sw/runs/n=1__seed=2"), "accuracy_mean": 0.5}],
                   ws.read_scores([str(table)], "accuracy_mean"), "accuracy_mean")
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sw/runs/n=1__seed=2' has no row in --scores" in err[0]
    # a table without the metric, and a folder that is no sweep: one line each, exit 2
    for argv, said in ([str(tmp_path), "--scores", str(table), "--metric", "loss"],
                       "is not a sweep folder"), ([str(tmp_path), "--scores", "nope.csv"],
                                                 "is not a sweep folder"):
        with pytest.raises(SystemExit) as stop:
            ws.main(argv + ["--out", str(tmp_path / "out")])
        assert stop.value.code == 2
        assert said in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ws.read_scores([str(table)], "loss")
    assert "with a 'loss' column" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_bf16_point_is_drawn_open_and_joined_to_the_widest_float32_point_below():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = [dict(r, sd=0.01) for r in TABLE]
    fig, ax = plt.subplots()
    ws._plot_mode(ax, table, "bias", "n_units", "acc", "sd", "C0")
    lines = [(list(ln.get_xdata()), list(ln.get_ydata()), ln.get_linestyle(),
              ln.get_markerfacecolor()) for ln in ax.get_lines() if len(ln.get_xdata())]
    plt.close(fig)
    solid = [ln for ln in lines if ln[2] == "-"]
    dashed = [ln for ln in lines if ln[2] == "--"]
    assert [ln[:2] for ln in solid] == [([128, 256, 512], [0.50, 0.80, 0.90])]
    # the join 512 -> 1024 and the bf16 point itself (open marker)
    assert ([512, 1024], [0.90, 0.93]) in [ln[:2] for ln in dashed]
    assert any(ln[:2] == ([1024], [0.93]) and ln[3] == "white" for ln in dashed)


def test_a_one_seed_point_is_ringed_and_named_in_the_legend_once():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = [dict(r, sd=0.01, seeds=3) for r in TABLE]
    table[2] = dict(table[2], sd=None, seeds=1)        # bias 512: one seed
    table[-1] = dict(table[-1], sd=None, seeds=1)      # full 512: one seed
    fig, ax = plt.subplots()
    for mode, color in (("bias", "C0"), ("full", "C2")):
        ws._plot_mode(ax, table, mode, "n_units", "acc", "sd", color)
    rings = [(list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.get_lines()
             if ln.get_marker() == "s"]
    labels = ax.get_legend_handles_labels()[1]
    plt.close(fig)
    assert rings == [([512], [0.90]), ([512], [0.97])]
    assert labels.count("one seed (no SD)") == 1
    fig, ax = plt.subplots()  # every point with a spread: no ring, no legend entry
    ws._plot_mode(ax, [dict(r, sd=0.01, seeds=3) for r in TABLE], "bias", "n_units", "acc",
                  "sd", "C0")
    assert not [ln for ln in ax.get_lines() if ln.get_marker() == "s"]
    assert "one seed (no SD)" not in ax.get_legend_handles_labels()[1]
    plt.close(fig)


def test_one_seed_has_no_spread_and_its_gap_is_not_firm():
    # one run: its SD is unknown, not 0; the table says so and the gap gets no SE
    rows = [{"mode": m, "precision": "fp32", "n_units": 512, "seed": s, "n_trainable": 7,
             "accuracy_mean": a, "steps": 3000, "accuracy/x": a}
            for m, s, a in [("bias", 0, 0.90), ("full", 0, 0.93), ("full", 1, 0.95)]]
    table = {r["mode"]: r for r in ws.summarise(rows, "accuracy_mean")}
    assert table["bias"]["accuracy_mean_sd"] is None
    assert round(table["full"]["accuracy_mean_sd"], 6) == round(0.02 / 2 ** 0.5, 6)
    assert ws._pm(0.9, None, 3) == "0.900 (one seed)" and ws._pm(0.9, 0.01, 2) == "0.90 ± 0.01"
    tasks = ws.per_task(rows)
    assert [r["accuracy/x_sd"] for r in tasks if r["mode"] == "bias"] == [None]
    said = ws._said(512, list(table.values()), "accuracy_mean_mean")
    assert said == "N = 512 (0.90 against 0.94; gap 0.040, one seed: no SE, not a firm answer)"


def test_a_width_trained_in_both_precisions_answers_with_float32():
    # bias at 1024 in bf16 (0.95, within 0.05 of full's 0.97) and in float32 (0.90, not within):
    # the float32 point is the answer at that width; bf16 stands only where it is alone
    table = TABLE + [_row("bias", 1024, 0.95, "bf16"), _row("full", 1024, 0.97)]
    table = [r for r in table if not (r["mode"] == "bias" and r["n_units"] == 1024
                                      and r["acc"] == 0.93)] + [_row("bias", 1024, 0.90)]
    assert ws.crossing(table, "acc") is None
    assert ws._said_widest(table, "acc").startswith(
        "not within 0.05 at any measured width (best 0.90 at N = 512")
    only_bf16 = [r for r in table if not (r["mode"] == "bias" and r["n_units"] == 1024
                                          and r["precision"] == "fp32")]
    assert ws.crossing(only_bf16, "acc") == 1024
    assert ws._said(1024, only_bf16, "acc") == "N = 1024 (0.95 against 0.97)"
