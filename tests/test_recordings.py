"""Reading recordings: NWB (units and time series), arrays, run files; bad input.

The known answers are made independently of the reader: spike times are placed strictly inside
the bins of known integer counts, time series sampled on a grid whose bin means are computed
by reshaping, and run files are compared with what ``neurobias.io.load`` reads back.
"""

import datetime as dt
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurobias.io import Recording, RecordingError, read_recording

DT = 20.0                                   # ms, the circuit's step in these tests
LENGTHS = np.array([10, 12, 8, 10, 12, 9])  # bins per trial
CONDITION = np.array(["left", "right", "left", "right", "left", "right"])
COHERENCE = np.array([0.1, 0.2, 0.1, 0.4, 0.2, 0.4])
STARTS = 1.0 + 0.5 * np.arange(6)           # s: trials 0.16-0.24 s long, gaps of >= 0.26 s
UNIT_IDS = [10, 11, 12, 13, 14]
ROI_RATE = 100.0                            # Hz: two samples per 20 ms bin
CUE_RATE = 1000.0                           # Hz: twenty samples per bin


def _counts(seed=0):
    """(trial, time, unit) spike counts, zero after each trial's length, every unit firing."""
    rng = np.random.default_rng(seed)
    c = rng.poisson(1.5, (6, LENGTHS.max(), len(UNIT_IDS)))
    c[np.arange(LENGTHS.max())[None, :] >= LENGTHS[:, None]] = 0
    return c


def _spike_times(counts):
    """Spike times (s) per unit: c spikes strictly inside bin k of trial i, plus spikes outside
    every trial (before the first and in the gaps) that no trial may count."""
    times = []
    for u in range(counts.shape[2]):
        t = [0.3, STARTS[-1] + 0.45]  # before the first trial, after the last
        for i, s in enumerate(STARTS):
            t.append(s + LENGTHS[i] * DT / 1000 + 0.1)  # in the gap after trial i
            for k in range(LENGTHS[i]):
                c = counts[i, k, u]
                t += [s + (k + (j + 1) / (c + 1)) * DT / 1000 for j in range(c)]
        times.append(np.sort(t))
    return times


def _roi_data():
    n = int(ROI_RATE * (STARTS[-1] + 1.0))
    x = np.arange(n)[:, None] / ROI_RATE
    return (np.sin(2 * np.pi * 1.3 * x * np.array([1.0, 2.0, 3.0]))
            + 0.1 * np.arange(3)).astype(np.float32)  # (time, roi) dF/F


def _cue_data():
    n = int(CUE_RATE * (STARTS[-1] + 1.0))
    return np.cos(2 * np.pi * 3.0 * np.arange(n) / CUE_RATE).astype(np.float32)


def _bin_means(data, rate):
    """(trial, time, channel) bin means computed by reshaping the sample grid."""
    data = data.reshape(len(data), -1)
    per = int(round(rate * DT / 1000))
    out = np.zeros((6, LENGTHS.max(), data.shape[1]), np.float32)
    for i, s in enumerate(STARTS):
        first = int(round(s * rate))
        block = data[first: first + LENGTHS[i] * per].astype(np.float64)
        out[i, : LENGTHS[i]] = block.reshape(LENGTHS[i], per, -1).mean(1)
    return out


def write_nwb(path, *, units=True, ophys=True, trials=True, cue=True):
    """A realistic NWB file written with pynwb: subject, units with spike times, a trials table
    with a condition column, a dF/F RoiResponseSeries in processing/ophys, a stimulus cue."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject
    from pynwb.misc import Units
    from pynwb.ophys import (
        DfOverF,
        ImageSegmentation,
        OpticalChannel,
        RoiResponseSeries,
    )

    nwb = NWBFile(session_description="synthetic recording for the reader's tests",
                  identifier=f"neurobias-test-{path.stem}",
                  session_start_time=dt.datetime(2024, 1, 2, 3, 4, 5,
                                                 tzinfo=dt.timezone.utc),
                  experimenter=["Doe, Jane"], lab="test lab", institution="test institution",
                  experiment_description="spikes from known counts per bin",
                  keywords=["synthetic", "test"])
    nwb.subject = Subject(subject_id="m1", species="Mus musculus", sex="F", age="P90D",
                          description="synthetic")
    if trials:
        nwb.add_trial_column("condition", "stimulus side")
        nwb.add_trial_column("coherence", "motion coherence")
        for i, s in enumerate(STARTS):
            nwb.add_trial(start_time=float(s), stop_time=float(s + LENGTHS[i] * DT / 1000),
                          condition=str(CONDITION[i]), coherence=float(COHERENCE[i]))
    if units:
        nwb.units = Units(name="units", description="sorted units", resolution=1 / 30000)
        for uid, t in zip(UNIT_IDS, _spike_times(_counts()), strict=True):
            nwb.add_unit(spike_times=t, id=uid)
    if ophys:
        device = nwb.create_device(name="Microscope", description="two-photon microscope")
        plane = nwb.create_imaging_plane(
            name="ImagingPlane", optical_channel=OpticalChannel(
                name="OpticalChannel", description="green", emission_lambda=510.0),
            imaging_rate=ROI_RATE, description="layer 2/3", device=device,
            excitation_lambda=920.0, indicator="GCaMP6f", location="VISp")
        seg = ImageSegmentation()
        mod = nwb.create_processing_module(name="ophys", description="optical physiology")
        mod.add(seg)
        ps = seg.create_plane_segmentation(name="PlaneSegmentation", description="ROIs",
                                           imaging_plane=plane)
        for r in range(3):
            mask = np.zeros((4, 4), np.float32)
            mask[r, r] = 1.0
            ps.add_roi(image_mask=mask, id=100 + r)
        region = ps.create_roi_table_region(region=[0, 1, 2], description="all ROIs")
        dff = DfOverF()
        mod.add(dff)  # in the file before its series, so that the ROI region finds its table
        dff.add_roi_response_series(RoiResponseSeries(
            name="RoiResponseSeries", data=_roi_data(), rois=region, unit="n.a.",
            rate=ROI_RATE, starting_time=0.0, description="dF/F of each ROI"))
    if cue:
        nwb.add_stimulus(TimeSeries(name="cue", data=_cue_data(), unit="a.u.", rate=CUE_RATE,
                                    starting_time=0.0, description="visual cue contrast",
                                    conversion=0.5, offset=0.25))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.fixture(scope="module")
def nwb_path(tmp_path_factory):
    return write_nwb(tmp_path_factory.mktemp("nwb") / "session.nwb")


def _listing(folder):
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())


# ------------------------------------------------------------------ NWB


def test_nwb_is_a_normal_nwb_file(nwb_path):
    """The example file is realistic: the NWB inspector finds nothing critical (nor any best
    practice violated) and pynapple opens it; pynapple's own binning of the spikes within each
    trial gives the reader's counts."""
    import pynapple as nap
    from nwbinspector import Importance, inspect_nwbfile

    messages = list(inspect_nwbfile(nwbfile_path=str(nwb_path)))
    serious = [m for m in messages if m.importance in (
        Importance.CRITICAL, Importance.PYNWB_VALIDATION, Importance.ERROR,
        Importance.BEST_PRACTICE_VIOLATION)]
    assert serious == [], [m.message for m in serious]
    data = nap.load_file(str(nwb_path))
    units, trials = data["units"], data["trials"]
    assert len(units) == len(UNIT_IDS) and len(trials) == 6
    spikes = _spike_times(_counts())
    for k, uid in enumerate(UNIT_IDS):
        assert len(units[uid]) == len(spikes[k])
    rec = read_recording(nwb_path, dt_ms=DT)
    for i in range(6):
        theirs = np.asarray(units.count(DT / 1000, ep=trials[i]))  # (bin, unit)
        np.testing.assert_array_equal(rec.counts[i, : LENGTHS[i]], theirs)


def test_nwb_units_give_the_counts_conditions_and_lengths_they_were_made_from(nwb_path,
                                                                             tmp_path):
    counts = _counts()
    rec = read_recording(nwb_path, dt_ms=DT, context="condition")
    np.testing.assert_array_equal(rec.counts, counts)
    np.testing.assert_array_equal(rec.rates, counts * np.float32(1000 / DT))
    assert rec.unit == "spikes/s" and rec.dt_ms == DT
    np.testing.assert_array_equal(rec.lengths, LENGTHS)
    assert rec.condition_names == ("left", "right")
    np.testing.assert_array_equal(rec.condition, (CONDITION == "right").astype(int))
    assert rec.neuron_names == tuple(str(u) for u in UNIT_IDS)
    assert rec.context_column == "condition" and "units" in rec.source
    # every other scalar column, and the trial boundaries (s), are kept per trial
    np.testing.assert_array_equal(rec.extra["coherence"], COHERENCE)
    np.testing.assert_array_equal(rec.extra["start_time"], STARTS)
    assert "condition" not in rec.extra
    # the same batches as the arrays the file was made from
    np.savez(tmp_path / "a.npz", activity=counts, condition=CONDITION, lengths=LENGTHS,
             dt_ms=DT)
    arrays = read_recording(tmp_path / "a.npz", dt_ms=DT)
    direct = Recording.from_arrays(counts, dt_ms=DT, condition=CONDITION, lengths=LENGTHS,
                                   counts=True)
    for other in (arrays, direct):
        np.testing.assert_array_equal(rec.counts, other.counts)
        np.testing.assert_array_equal(rec.rates, other.rates)
        np.testing.assert_array_equal(rec.condition, other.condition)
        np.testing.assert_array_equal(rec.lengths, other.lengths)
        assert rec.condition_names == other.condition_names


def test_nwb_neurons_by_id_or_index_inputs_and_one_condition(nwb_path):
    counts = _counts()
    by_id = read_recording(nwb_path, dt_ms=DT, neurons=["13", "10"], inputs=["cue"])
    np.testing.assert_array_equal(by_id.counts, counts[:, :, [3, 0]])
    assert by_id.neuron_names == ("13", "10")
    by_index = read_recording(nwb_path, dt_ms=DT, neurons=[3, 0])
    np.testing.assert_array_equal(by_index.counts, by_id.counts)
    # no context: one condition for all trials
    assert by_id.condition_names == ("all",) and (by_id.condition == 0).all()
    # the stimulus cue (1 kHz) averaged into 20 ms bins is the circuit's input
    # (stored values times its conversion plus its offset)
    np.testing.assert_allclose(by_id.inputs, 0.5 * _bin_means(_cue_data(), CUE_RATE) + 0.25
                               * (np.arange(LENGTHS.max()) < LENGTHS[:, None])[..., None],
                               atol=1e-6)
    assert by_id.inputs.shape == (6, LENGTHS.max(), 1)


def test_nwb_spikes_on_bin_edges_belong_to_the_bin_they_open(tmp_path):
    """Bins are [start + k dt, start + (k + 1) dt): a spike at a trial's start is in bin 0, one
    on the edge k in bin k (despite 0.1 + 0.02 != 0.12 in floating point), one at the stop
    time in no bin."""
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="edges", identifier="edges",
                  session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    nwb.add_trial(start_time=0.1, stop_time=0.2)
    nwb.add_trial(start_time=0.3, stop_time=0.36)
    nwb.add_unit(spike_times=[0.1, 0.12, 0.16, 0.179, 0.2, 0.3, 0.34, 0.36])
    with NWBHDF5IO(str(tmp_path / "edges.nwb"), "w") as io:
        io.write(nwb)
    rec = read_recording(tmp_path / "edges.nwb", dt_ms=DT)
    np.testing.assert_array_equal(rec.lengths, [5, 3])
    np.testing.assert_array_equal(rec.counts[..., 0], [[1, 1, 0, 2, 0], [1, 0, 1, 0, 0]])


def test_nwb_roi_response_series_round_trips_to_its_bin_means(nwb_path, tmp_path):
    rec = read_recording(nwb_path, dt_ms=DT, source="timeseries:RoiResponseSeries",
                         context="coherence")
    expected = _bin_means(_roi_data(), ROI_RATE)
    np.testing.assert_allclose(rec.rates, expected, atol=1e-6)
    assert rec.counts is None and rec.unit == "n.a."
    assert rec.neuron_names == ("100", "101", "102")  # the ROI ids
    assert rec.condition_names == ("0.1", "0.2", "0.4")
    np.testing.assert_array_equal(rec.condition, np.searchsorted([0.1, 0.2, 0.4], COHERENCE))
    # by its path, and chosen automatically in a file without units
    by_path = read_recording(nwb_path, dt_ms=DT,
                             source="timeseries:ophys/DfOverF/RoiResponseSeries")
    np.testing.assert_array_equal(by_path.rates, rec.rates)
    only = write_nwb(tmp_path / "ophys.nwb", units=False, cue=False)
    auto = read_recording(only, dt_ms=DT)
    np.testing.assert_array_equal(auto.rates, rec.rates)
    # at 40 ms, four samples per bin
    coarse = read_recording(only, dt_ms=40.0)
    first = int(STARTS[0] * ROI_RATE)
    np.testing.assert_allclose(coarse.rates[0, 1], _roi_data()[first + 4: first + 8].mean(0),
                               atol=1e-6)
    np.testing.assert_array_equal(coarse.lengths, LENGTHS // 2)


# ------------------------------------------------------------------ arrays


@pytest.mark.parametrize("suffix", ["npz", "h5"])
def test_arrays_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(1)
    act = rng.normal(size=(5, 7, 3)).astype(np.float32)
    inputs = rng.normal(size=(5, 7, 2)).astype(np.float32)
    cond = np.array([2, 0, 2, 1, 0])
    names = np.array(["a", "b", "c"])
    path = tmp_path / f"x.{suffix}"
    fields = dict(activity=act, inputs=inputs, condition=cond, dt_ms=DT,
                  neuron_names=names, stim=np.arange(5.0))
    if suffix == "npz":
        np.savez(path, **fields)
    else:
        with h5py.File(path, "w") as f:
            for k, v in fields.items():
                f[k] = v if k != "neuron_names" else v.astype("S")
    rec = read_recording(path, dt_ms=DT)
    np.testing.assert_array_equal(rec.rates, act)
    np.testing.assert_array_equal(rec.inputs, inputs)
    np.testing.assert_array_equal(rec.condition, cond)  # labels 0, 1, 2 sort to themselves
    assert rec.condition_names == ("0", "1", "2") and rec.counts is None
    assert rec.neuron_names == ("a", "b", "c")
    np.testing.assert_array_equal(rec.extra["stim"], np.arange(5.0))
    # another per-trial array as the context; neurons by name
    by_stim = read_recording(path, dt_ms=DT, context="stim", neurons=["c", "a"])
    assert by_stim.n_conditions == 5
    np.testing.assert_array_equal(by_stim.rates, act[:, :, [2, 0]])


def test_integer_arrays_are_counts_rebinned_by_an_integer_factor(tmp_path):
    counts = np.random.default_rng(2).poisson(2.0, (4, 10, 3))
    lengths = np.array([10, 9, 6, 10])
    counts[np.arange(10)[None, :] >= lengths[:, None]] = 0
    np.savez(tmp_path / "c.npz", activity=counts, dt_ms=10.0, lengths=lengths)
    rec = read_recording(tmp_path / "c.npz", dt_ms=20.0)
    expected = counts.reshape(4, 5, 2, 3).sum(2)
    expected[1, 4] = 0  # trial 1 has 9 bins of 10 ms: 4 whole bins of 20 ms
    np.testing.assert_array_equal(rec.counts, expected)
    np.testing.assert_array_equal(rec.lengths, [5, 4, 3, 5])
    np.testing.assert_allclose(rec.rates, expected * 50.0)  # spikes per 20 ms -> spikes/s
    # float activity with counts=True is counts too; counts=False keeps integers as rates
    np.savez(tmp_path / "f.npz", activity=counts.astype(float), counts=True)
    assert read_recording(tmp_path / "f.npz", dt_ms=10.0).counts is not None
    np.savez(tmp_path / "r.npz", activity=counts, counts=False)
    rates = read_recording(tmp_path / "r.npz", dt_ms=10.0)
    assert rates.counts is None
    np.testing.assert_array_equal(rates.rates, counts)


def test_padding_may_hold_nan_and_smoothing_keeps_counts(tmp_path):
    counts = np.zeros((2, 61, 1))
    counts[:, 30] = 1
    counts[1, 50:] = np.nan  # padding after a 50-bin trial
    np.savez(tmp_path / "s.npz", activity=counts, counts=True, lengths=[61, 50])
    rec = read_recording(tmp_path / "s.npz", dt_ms=DT, smooth_ms=3 * DT)
    # a Gaussian of sigma 3 bins (kernel cut at 4 sigma), normalised: the spike's rate
    # (1 spike / 20 ms = 50 spikes/s) spread around bin 30, far from the trials' edges
    k = np.exp(-0.5 * (np.arange(-12, 13) / 3.0) ** 2)
    np.testing.assert_allclose(rec.rates[0, 18:43, 0], 50.0 * k / k.sum(), rtol=1e-5)
    np.testing.assert_allclose(rec.rates[1, 18:38, 0], 50.0 * k[:20] / k.sum(), rtol=1e-5)
    # near the end of the 50-bin trial the kernel is renormalised over the valid bins only:
    # bin 40 (offset +10) sees offsets -12..+9
    np.testing.assert_allclose(rec.rates[1, 40, 0], 50.0 * k[22] / k[:22].sum(), rtol=1e-5)
    assert rec.rates[0, :18].sum() == 0 and rec.rates[0, 43:].sum() == 0
    assert rec.rates[1, 50:].sum() == 0 and rec.counts[1, 50:].sum() == 0
    np.testing.assert_array_equal(rec.counts[:, 30, 0], [1, 1])  # counts are not smoothed
    assert rec.counts.sum() == 2


# ------------------------------------------------------------------ run files


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    import neurobias as nb
    from neurobias.config import config_from_dict
    from neurobias.io import export

    tmp = tmp_path_factory.mktemp("run")
    cfg = config_from_dict({
        "circuit": {"n_units": 12},
        "env": {"kind": "neurogym", "tasks": ["yang19.dm1-v0", "yang19.dms-v0"],
                "eval_trials": 4},
        "train": {"steps": 2, "batch_size": 4, "eval_every": 0}})
    run = nb.train_run(cfg, tmp / "run", progress=False)
    return export(run, tmp / "run.h5", n_trials=6, progress=False)


def test_run_file_reads_back_its_rates_and_contexts(run_file):
    from neurobias.io import load

    back = load(run_file)
    rec = read_recording(run_file, dt_ms=float(back.config.circuit.dt_ms))
    np.testing.assert_array_equal(rec.rates, back.activity())
    np.testing.assert_array_equal(rec.inputs, back.trials["inputs"])
    np.testing.assert_array_equal(rec.lengths, back.conditions["length"])
    assert len(set(rec.lengths.tolist())) > 1  # dm1 and dms trials differ in length
    # the task is the default context, named after the tasks
    assert rec.context_column == "task"
    assert rec.condition_names == ("yang19.dm1", "yang19.dms")
    np.testing.assert_array_equal(rec.condition, back.conditions["task"])
    np.testing.assert_array_equal(rec.extra["ground_truth"], back.conditions["ground_truth"])
    by_ctx = read_recording(run_file, dt_ms=float(back.config.circuit.dt_ms), context="context",
                            neurons=[5, 1])
    assert by_ctx.condition_names == ("yang19.dm1", "yang19.dms")
    np.testing.assert_array_equal(by_ctx.condition, back.trials["context"])
    np.testing.assert_array_equal(by_ctx.rates, back.activity()[:, :, [5, 1]])
    # at twice the step, rates are averaged over pairs of bins; a trial's odd last bin dropped
    dt = float(back.config.circuit.dt_ms)
    slow = read_recording(run_file, dt_ms=2 * dt)
    np.testing.assert_array_equal(slow.lengths, back.conditions["length"] // 2)
    for i, n in enumerate(slow.lengths):
        pairs = back.activity()[i, : 2 * n].reshape(n, 2, -1).mean(1)
        np.testing.assert_allclose(slow.rates[i, :n], pairs, rtol=1e-6, atol=1e-7)
        assert (slow.rates[i, n:] == 0).all()


# ------------------------------------------------------------------ bad input


def _npz(path, **fields):
    np.savez(path, **fields)
    return path


BAD_ARRAYS = {
    "nan": (dict(activity=np.array([[[1.0], [np.nan]]])), {}, "NaN or Inf"),
    "inf_in_valid_part": (dict(activity=np.array([[[np.inf], [0.0]]]), lengths=[1]), {},
                          "NaN or Inf"),
    "silent": (dict(activity=np.array([[[1, 0], [2, 0]]])), {},
               r"1 neuron\(s\) never fire \(1\)"),
    "inputs_shape": (dict(activity=np.ones((2, 3, 1)), inputs=np.ones((3, 3, 1))), {},
                     r"inputs has shape \(3, 3, 1\) but activity has shape \(2, 3, 1\)"),
    "condition_shape": (dict(activity=np.ones((2, 3, 1)), condition=[0, 1, 1]), {},
                        r"condition has shape \(3,\) but activity has 2 trials"),
    "lengths_shape": (dict(activity=np.ones((2, 3, 1)), lengths=[3, 4]), {},
                      r"lengths .* expected \(2,\) whole numbers in 1..3"),
    "names_shape": (dict(activity=np.ones((2, 3, 2)), neuron_names=["a"]), {},
                    "neuron_names has 1 entries but activity has 2 neurons"),
    "two_axes": (dict(activity=np.ones((2, 3))), {}, r"expected 3 axes \(trial, time, neuron\)"),
    "no_activity": (dict(rates=np.ones((2, 3, 1))), {},
                    "holds no 'activity' array \\(found: rates\\)"),
    "context_missing": (dict(activity=np.ones((2, 3, 1)), condition=[0, 1]),
                        dict(context="rule"),
                        "no per-trial array 'rule' .* per-trial arrays there are: condition"),
    "dt_mismatch": (dict(activity=np.ones((2, 3, 1)), dt_ms=15.0), {},
                    "binned at dt_ms=15 but the circuit's dt_ms is 20: allowed"),
    "index_out_of_range": (dict(activity=np.ones((2, 3, 2))), dict(neurons=[0, 2]),
                           r"neurons selection \[2\] out of range: .* 2 neurons, indices 0..1"),
    "unknown_name": (dict(activity=np.ones((2, 3, 2))), dict(neurons=["x"]),
                     r"neurons \['x'\] are not in the recording: its neuron names are 0, 1"),
    "source_for_arrays": (dict(activity=np.ones((2, 3, 1))), dict(source="units"),
                          "applies to NWB files only"),
    "smooth": (dict(activity=np.ones((2, 3, 1))), dict(smooth_ms=-1.0), "smooth_ms=-1.0"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_arrays_give_one_line(tmp_path, case):
    fields, kwargs, message = BAD_ARRAYS[case]
    path = _npz(tmp_path / "bad.npz", **fields)
    before = _listing(tmp_path)
    with pytest.raises(RecordingError, match=message) as err:
        read_recording(path, dt_ms=DT, **kwargs)
    text = str(err.value)
    assert "\n" not in text and text.startswith(repr(str(path)))
    assert _listing(tmp_path) == before  # nothing is written


@pytest.fixture(scope="module")
def bad_nwbs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("badnwb")
    return {"no_trials": write_nwb(tmp / "no_trials.nwb", trials=False),
            "nothing": write_nwb(tmp / "nothing.nwb", units=False, ophys=False)}


def test_bad_nwb_give_one_line(nwb_path, bad_nwbs, tmp_path):
    cases = [
        (bad_nwbs["no_trials"], {}, "has no trials table"),
        (bad_nwbs["nothing"], {}, "has no Units table and no rate-like TimeSeries"),
        (bad_nwbs["nothing"], dict(source="units"), "has no Units table"),
        (nwb_path, dict(context="rule"), "the trials table has no column 'rule' to use as the "
                                         "context: columns there are: start_time, stop_time, "
                                         "condition, coherence"),
        (nwb_path, dict(source="timeseries:dff"), "has no TimeSeries 'dff' for the activity: "
                                                  "TimeSeries there are: processing/ophys/"),
        (nwb_path, dict(source="spikes"), "source='spikes' is invalid: allowed: auto, units"),
        (nwb_path, dict(source="timeseries:RoiResponseSeries", dt_ms=5.0),
         "sampled every 10 ms, coarser than dt_ms=5"),
        (nwb_path, dict(neurons=[7]), r"out of range: the recording has 5 neurons"),
        (nwb_path, dict(inputs=["lick"]), "has no TimeSeries 'lick' for the inputs"),
    ]
    before = _listing(nwb_path.parent)
    for path, kwargs, message in cases:
        kwargs = {"dt_ms": DT, **kwargs}
        with pytest.raises(RecordingError, match=message) as err:
            read_recording(path, **kwargs)
        assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert _listing(nwb_path.parent) == before


def test_files_that_are_not_recordings(tmp_path):
    (tmp_path / "notes.txt").write_text("not data\n")
    with pytest.raises(RecordingError, match="neither an NWB file, an .npz archive nor an "
                                             "HDF5 file: allowed"):
        read_recording(tmp_path / "notes.txt", dt_ms=DT)
    with pytest.raises(RecordingError, match="does not exist"):
        read_recording(tmp_path / "missing.nwb", dt_ms=DT)
    with pytest.raises(RecordingError, match="dt_ms=0 is invalid"):
        read_recording(tmp_path / "notes.txt", dt_ms=0)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_run_file_bad_context_and_dt(run_file):
    with pytest.raises(RecordingError, match="has no trial condition 'rule' to use as the "
                                             "context: conditions there are: .*context, .*"
                                             "length, .*task"):
        read_recording(run_file, dt_ms=20.0, context="rule")
    with pytest.raises(RecordingError, match="binned at dt_ms=20 but the circuit's dt_ms is "
                                             "30: allowed: the same step, or an integer "
                                             "multiple"):
        read_recording(run_file, dt_ms=30.0)



def test_docs_example_runs(tmp_path, monkeypatch, capsys):
    """The Python example of docs/recordings.md runs and prints what its comments say."""
    text = (Path(__file__).parents[1] / "docs" / "recordings.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/recordings.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "(40, 50, 12) spikes/s ('left', 'right')"
    assert out[1].endswith("[50 50 50]")
