"""Files in and out: one module per format.

``hdf5``   the neurobias run file (schema ``neurobias/1``, docs/hdf5.md): ``export``, ``load``,
           ``info``.
``recordings``  recorded activity in trials (``Recording``), the data a circuit is fitted to:
           ``read_recording`` reads ``.npz``/``.h5`` arrays and run files, and NWB files
           through ``nwb``.
``nwb``    NWB files (pynwb): spikes of the Units table or a TimeSeries, binned per trial.
``nwb_export``  the NWB export (``export_nwb``): the HDF5 export's trials and activity as
           an NWB file (pynwb) for the field's tools.
``teacher``  recordings simulated from a known circuit (``teacher_recording``), for checks.
"""

from .hdf5 import (
    CHUNK_BYTES,
    SCHEMA,
    SCHEMA_VERSION,
    RunFile,
    RunFileError,
    create_activity_dataset,
    export,
    info,
    load,
    write_activity,
)
from .nwb_export import export_nwb
from .recordings import Recording, RecordingError, read_recording
from .teacher import TeacherData, teacher_recording

__all__ = ["SCHEMA", "SCHEMA_VERSION", "CHUNK_BYTES", "RunFile", "RunFileError", "export", "load",
           "info", "export_nwb", "create_activity_dataset", "write_activity", "Recording",
           "RecordingError", "read_recording", "TeacherData", "teacher_recording"]
