"""Recipe search: Optuna's TPE sampler over settings of a spec, one run folder per trial.

A study lives in one folder ``OUT``:

    tune.json          spec, search space, seeds, metric, direction and their hash; the
                       worker jobs submitted (written atomically)
    journal.log        Optuna's journal (JournalStorage, file backend): every trial, its
                       parameters, intermediate values and state. Needs no database server and
                       works on a shared file system, so SLURM jobs on several nodes share it.
    trials/NNNN[_seedS]/   a normal run folder per trial (and seed, with --seeds > 1)
    submitit/          the worker jobs' scripts and logs
    tune_report.json, trials.csv, figures/   written by ``tune_report``

Workers (local processes or SLURM jobs, through submitit as in ``neurobias.sweep``) ask the
study for a trial, train it with ``train_run`` and tell the study the summary's metric (mean
over seeds), until ``trials`` trials have finished (completed or pruned). Pruning reports each
periodic evaluation of training (``train.eval_every``) to the trial. Running the same command
again resumes: finished trials stay, trials left RUNNING by a killed worker are marked failed
and their parameters are asked again (the retry continues from the killed run's checkpoint).

Modules: ``space`` (the ``--space`` syntax, checked against a spec), ``study`` (the journal,
sampler and pruner), ``worker`` (the loop each job runs), ``search`` (``tune``: plan, resume,
start or submit the workers), ``report`` (``tune_report``: table, figures, best settings).
"""

from .report import tune_report
from .search import EXECUTORS, TuneResult, tune
from .space import Param, parse_space, validate_space
from .study import JOURNAL, MANIFEST, PRUNERS, STUDY_NAME, default_startup, trial_dirs

__all__ = ["tune", "tune_report", "parse_space", "validate_space", "Param", "TuneResult",
           "MANIFEST", "JOURNAL", "STUDY_NAME", "PRUNERS", "EXECUTORS", "default_startup",
           "trial_dirs"]
