"""Files in and out: one module per format.

``hdf5``   the neurobias run file (schema ``neurobias/1``, docs/hdf5.md): ``export``, ``load``,
           ``info``.
``recordings``  recorded activity in trials (``Recording``), the data a circuit is fitted to:
           ``read_recording`` reads NWB files, ``.npz``/``.h5`` arrays and run files.
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
from .recordings import Recording, RecordingError, read_recording

__all__ = ["SCHEMA", "SCHEMA_VERSION", "CHUNK_BYTES", "RunFile", "RunFileError", "export", "load",
           "info", "create_activity_dataset", "write_activity", "Recording", "RecordingError",
           "read_recording"]
