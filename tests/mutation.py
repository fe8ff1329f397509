"""Mutation testing of the core modules with mutmut 3 (`make mutation`; not part of CI).

    python tests/mutation.py run [MUTANT_NAME_GLOB ...] [--max-children N]
    python tests/mutation.py report [--survivors] [--baseline OTHER/mutants]

``run`` is ``mutmut run`` with one change: mutmut leaves every decorated function alone except
``@staticmethod``/``@classmethod`` ones, which would exempt ``find_fixed_points`` and
``NeuroGymEnv.evaluate`` (both ``@torch.no_grad()``). A decorator ``torch.no_grad()`` has no
side effect when the function is defined twice, so such functions are mutated like plain ones
(the decorator itself is not). The settings (modules, test files) are in ``[tool.mutmut]`` of
pyproject.toml; the mutated copy and the results live in ``mutants/`` (ignored by git; delete
it to start afresh).

``report`` prints, per module, how many mutants the tests killed, and the share killed among
those that some selected test runs (mutants of functions no selected test calls are counted
apart, as "no tests"), then the same share leaving out the survivors listed as equivalent in
``tests/mutation_equivalent.txt`` (one mutant name per line, ``#`` starts a reason). The NeuroGym
scoring (``NeuroGymEnv.score``, ``evaluate``, ``loss``) is also reported on its own.
``--baseline`` takes the results of mutants not checked here from another run's ``mutants/``
(to re-run only an earlier run's survivors: ``run NAME ...`` with their names).

Run from the repository root with one torch thread, e.g.
``NEUROBIAS_TEST_THREADS=1 OMP_NUM_THREADS=1 python tests/mutation.py run``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

MODULES = ("neurobias/circuit.py", "neurobias/train.py", "neurobias/envs/neurogym.py",
           "neurobias/analysis/variance.py", "neurobias/analysis/fixed_points.py")
SCORING = ("score", "evaluate", "loss")  # NeuroGymEnv methods reported on their own

# mutmut's exit-code meanings (mutmut.stats.status_by_exit_code)
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # a failing test, a pytest error, a timeout
SURVIVED = {0}
NO_TESTS = {5, 33}


def _allow_no_grad() -> None:
    import libcst as cst
    from mutmut.mutation import file_mutation as fm

    skip = fm.MutationVisitor._skip_node_and_children

    def no_grad_only(node) -> bool:
        return bool(node.decorators) and all(
            cst.Module([]).code_for_node(d.decorator) == "torch.no_grad()" for d in node.decorators)

    def patched(self, node):
        if isinstance(node, cst.FunctionDef) and no_grad_only(node):
            return skip(self, node.with_changes(decorators=()))
        return skip(self, node)

    fm.MutationVisitor._skip_node_and_children = patched


def _method(key: str) -> str:
    """'neurobias.envs.neurogym.xǁNeuroGymEnvǁscore__mutmut_3' -> 'NeuroGymEnv.score'."""
    name = key.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    return name.removeprefix("x_").removeprefix("xǁ").replace("ǁ", ".")


def _counts(codes) -> dict[str, int]:
    c = Counter()
    for code in codes:
        c["killed" if code in KILLED else "survived" if code in SURVIVED
          else "no tests" if code in NO_TESTS else "not checked" if code is None else "other"] += 1
    return c


def _equivalent() -> set[str]:
    path = Path(__file__).with_name("mutation_equivalent.txt")
    if not path.exists():
        return set()
    return {line.split("#", 1)[0].strip() for line in path.read_text().splitlines()} - {""}


def report(show_survivors: bool = False, baseline: str | None = None) -> str:
    lines = [f"{'module':40s} {'mutants':>7s} {'killed':>6s} {'survived':>8s} {'no tests':>8s} "
             f"{'other':>5s} {'killed/tested':>13s} {'equivalent':>10s} {'killed/non-eq.':>14s}"]
    survivors = []
    groups = []
    equivalent = _equivalent()
    for module in MODULES:
        meta = Path("mutants") / (module + ".meta")
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if baseline is not None:
            base = Path(baseline) / (module + ".meta")
            if base.exists():
                old = json.loads(base.read_text())["exit_code_by_key"]
                codes = {k: old.get(k) if v is None else v for k, v in codes.items()}
        groups.append((module, codes))
        if module.endswith("neurogym.py"):
            groups.append(("  NeuroGymEnv.score/evaluate/loss",
                           {k: v for k, v in codes.items()
                            if _method(k) in {f"NeuroGymEnv.{m}" for m in SCORING}}))
        survivors += [k for k, v in codes.items() if v in SURVIVED]
    for name, codes in groups:
        c = _counts(codes.values())
        tested = c["killed"] + c["survived"]
        share = f"{100 * c['killed'] / tested:.1f}%" if tested else "-"
        n_eq = sum(1 for k, v in codes.items() if v in SURVIVED and k in equivalent)
        share_ne = f"{100 * c['killed'] / (tested - n_eq):.1f}%" if tested > n_eq else "-"
        lines.append(f"{name:40s} {len(codes):7d} {c['killed']:6d} {c['survived']:8d} "
                     f"{c['no tests']:8d} {c['not checked'] + c['other']:5d} {share:>13s} "
                     f"{n_eq:10d} {share_ne:>14s}")
    if show_survivors:
        lines += ["", "survivors:"] + [f"  {k}" for k in survivors]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "report"):
        print(__doc__.strip().splitlines()[2:4], file=sys.stderr)
        return 2
    if argv[0] == "report":
        base = argv[argv.index("--baseline") + 1] if "--baseline" in argv else None
        print(report("--survivors" in argv, base))
        return 0
    _allow_no_grad()
    from mutmut.__main__ import cli

    return cli(["run", *argv[1:]], standalone_mode=False) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
