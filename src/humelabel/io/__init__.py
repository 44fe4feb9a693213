"""Bottom layer: input arrays and their validation, atomic outputs, the run directory.

Nothing here imports from the rest of the package (see ``tests/test_layers.py``).
"""

from .arrays import (
    InputError,
    check_same_rows,
    file_sha256,
    l2_normalize,
    load_matrix,
    split_key,
)
from .atomic import atomic_output_dir, check_output_dir, check_output_file, probe_output_dir
from .files import (
    save_npy_atomic,
    to_jsonable,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from .labels import load_class_names, load_labels
from .manifest import MANIFEST, read_manifest, refresh_manifest, write_manifest
from .rundir import package_versions

__all__ = [
    "MANIFEST", "InputError", "atomic_output_dir", "check_output_dir", "check_output_file",
    "probe_output_dir", "check_same_rows", "file_sha256", "l2_normalize", "load_class_names",
    "load_labels",
    "load_matrix", "package_versions", "read_manifest", "refresh_manifest", "save_npy_atomic",
    "split_key", "to_jsonable", "write_bytes_atomic", "write_json_atomic", "write_manifest",
    "write_text_atomic",
]
