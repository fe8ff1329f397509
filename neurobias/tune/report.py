"""The report of a study (``neurobias tune-report``): a JSON summary, a table, two figures and
the best settings as TOML ready to paste into a spec."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from ..config import ConfigError, _override_path
from ..run import write_json_atomic
from .study import JOURNAL, MANIFEST, open_study, quiet_optuna, trial_dirs

__all__ = ["tune_report", "write_report", "best_toml", "report_text"]

REPORT = "tune_report.json"
TABLE = "trials.csv"
REPORT_FORMAT = "neurobias-tune-report/1"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


def best_toml(params: Mapping[str, Any]) -> str:
    """Settings {"circuit.gain": 1.5, ...} as TOML tables ([circuit] gain = 1.5 ...)."""
    tables: dict[str, list[str]] = {}
    for key, value in params.items():
        parts = _override_path(key)
        name = ".".join(p if _BARE_KEY.match(p) else json.dumps(p) for p in parts[1:])
        tables.setdefault(parts[0], []).append(f"{name} = {_toml_value(value)}")
    return "\n".join(f"[{section}]\n" + "\n".join(lines) for section, lines in tables.items())


def _rows(study, out: Path, seeds: list[int]) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        steps = sorted(t.intermediate_values)
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        rows.append({
            "number": t.number, "state": t.state.name,
            "value": t.value if t.state.name == "COMPLETE" else None,
            "params": dict(t.params),
            "last_step": steps[-1] if steps else None,
            "last_value": t.intermediate_values[steps[-1]] if steps else None,
            "seconds": round(seconds, 2) if seconds is not None else None,
            "retry_of": t.user_attrs.get("retry_of"),
            "failure": t.user_attrs.get("failure"), "error": t.user_attrs.get("error"),
            "runs": [str(p.relative_to(out)) for p in trial_dirs(out, t.number, seeds)
                     if p.is_dir()],
        })
    return rows


def _importances(study) -> tuple[dict[str, float] | None, str | None]:
    """Optuna's parameter importances over the completed trials, or None and why not."""
    import warnings

    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return None, "importances need at least 2 completed trials"
    if len({t.value for t in complete}) == 1:
        return None, "importances: every completed trial has the same value"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            values = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError) as err:
            return None, f"importances could not be computed: {str(err).splitlines()[0]}"
    note = "; ".join(sorted({str(w.message) for w in caught})) or None
    return {k: float(v) for k, v in values.items()}, note


def write_report(out: Path, study, manifest: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Write tune_report.json, trials.csv and figures/ for ``study``; return (report, text)."""
    from ..plot.tune import tune_figures

    seeds = list(manifest["seeds"])
    metric, direction = manifest["metric"], manifest["direction"]
    rows = _rows(study, out, seeds)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    best = None
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    if complete:
        t = study.best_trial
        best = {"number": t.number, "value": t.value, "params": dict(t.params),
                "runs": next(r["runs"] for r in rows if r["number"] == t.number),
                "overrides": [f"{k}={_toml_value(v)}" for k, v in t.params.items()],
                "toml": best_toml(t.params)}
    importances, note = _importances(study)
    report = {"format": REPORT_FORMAT, "metric": metric, "direction": direction,
              "trials_target": manifest["trials"], "seeds": seeds, "space": manifest["space"],
              "pruner": manifest["pruner"], "counts": counts, "best": best,
              "importances": importances, "importances_note": note, "trials": rows}
    write_json_atomic(report, out / REPORT)
    keys = [k.split("=", 1)[0] for k in manifest["space"]]
    columns = ["number", "state", "value", *keys, "last_step", "last_value", "seconds",
               "retry_of", "failure", "error", "runs"]
    with atomic_path(out / TABLE) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            flat = {k: v for k, v in r.items() if k != "params"}
            flat["runs"] = " ".join(r["runs"])
            writer.writerow({**flat, **{k: r["params"].get(k) for k in keys}})
    if rows:
        tune_figures(rows, importances, metric, direction, out / "figures")
    return report, report_text(report, len(seeds))


def report_text(report: Mapping[str, Any], n_seeds: int) -> str:
    """The report in words: counts, the best trial, importances, the best settings as TOML."""
    counts = report["counts"]
    finished = counts.get("COMPLETE", 0) + counts.get("PRUNED", 0)
    line = (f"{finished} of {report['trials_target']} trials finished "
            f"({counts.get('COMPLETE', 0)} completed, {counts.get('PRUNED', 0)} pruned)")
    others = [f"{n} {s.lower()}" for s, n in sorted(counts.items())
              if s not in ("COMPLETE", "PRUNED")]
    lines = [line + ("; " + ", ".join(others) if others else "")]
    best = report["best"]
    if best is None:
        lines.append("no completed trial yet")
        return "\n".join(lines)
    seeds = f"mean over {n_seeds} seeds" if n_seeds > 1 else "one seed"
    lines.append(f"best: trial {best['number']}, {report['metric']} = {best['value']:.6g} "
                 f"({seeds}); run folder(s): " + ", ".join(best["runs"]))
    if report["importances"]:
        lines.append("importances: " + ", ".join(f"{k} {v:.2f}"
                                                  for k, v in report["importances"].items()))
    if report["importances_note"]:
        lines.append(f"note: {report['importances_note']}")
    lines.append("best settings (paste into the spec):")
    lines.append(best["toml"])
    return "\n".join(lines)


def tune_report(out: str | Path) -> tuple[dict[str, Any], str]:
    """Write a study's report: tune_report.json, trials.csv and figures/{history,importances}.png.

    Returns:
        (report dict, text: the counts, the best trial and its settings as TOML).

    Raises:
        ConfigError: ``out`` is not a study folder.
    """
    out = Path(out)
    if not (out / MANIFEST).is_file() or not (out / JOURNAL).is_file():
        raise ConfigError(f"{str(out)!r} is not a study folder: it has no {MANIFEST} and "
                          f"{JOURNAL} (written by `neurobias tune`)")
    manifest = json.loads((out / MANIFEST).read_text())
    verbosity = quiet_optuna()
    import optuna

    try:
        return write_report(out, open_study(out), manifest)
    finally:
        optuna.logging.set_verbosity(verbosity)
