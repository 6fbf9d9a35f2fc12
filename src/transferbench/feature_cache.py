"""A disk cache of frozen features, keyed by everything that changes them, verified before use."""

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from .errors import OutputError
from .results import atomic_write

FORMAT = 1
READ_BYTES = 16 * 2**20  # bytes per read of a cached array
ALIGNMENT = 64  # bytes: TensorFlow's CPU kernels need a tensor's data this aligned to use its memory as it is


def aligned_empty(shape, dtype=np.float32):
    """An uninitialised C-contiguous array whose data starts on an ALIGNMENT-byte boundary."""
    dtype, shape = np.dtype(dtype), tuple(int(n) for n in shape)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(size + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + size].view(dtype).reshape(shape)


def is_aligned(array):
    """Whether a tensor can share this array's memory as it is: C-contiguous, not empty, ALIGNMENT-aligned."""
    if not (isinstance(array, np.ndarray) and array.flags.c_contiguous and array.size):
        return False
    return array.ctypes.data % ALIGNMENT == 0


def aligned_rows(array, rows):
    """array[rows] (an index array, a slice or a mask) with its data on an ALIGNMENT-byte boundary, so that a tensor
    can share its memory (lean_feed.tensor_view): NumPy's view of a slice when it already is aligned, else an aligned
    copy."""
    if isinstance(rows, slice) and is_aligned(array[rows]):
        return array[rows]
    rows = np.arange(len(array))[rows]  # as NumPy reads the index; IndexError when out of range
    out = aligned_empty((len(rows), *array.shape[1:]), array.dtype)
    return np.take(array, rows, axis=0, out=out, mode="clip")  # 'clip' writes straight into out; rows are in range


def digest_arrays(*arrays):
    """sha256 over the shapes, dtypes and bytes of arrays (identifies a data subset exactly)."""
    h = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        h.update(f"{array.shape}{array.dtype}".encode())
        h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def feature_key(**parts):
    """The cache key: sha256 of the sorted JSON of every input that changes the features."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class FeatureCache:
    """Feature sets in memory and, unless disabled, as <root>/features/<key>.npz with checksums."""

    def __init__(self, root=None):
        self.folder = Path(root) / "features" if root is not None else None
        self.memory = {}

    def path(self, key):
        """Where an entry lives on disk."""
        return self.folder / f"{key}.npz"

    def get(self, key, needed):
        """Return the dict of arrays for key if it holds every name in `needed` and verifies, else None."""
        entry = self.memory.get(key)
        if entry is None and self.folder is not None and self.path(key).is_file():
            entry = self._load(key)
            if entry is not None:
                self.memory.clear()
                self.memory[key] = entry
        if entry is not None and set(needed) <= set(entry):
            return entry
        if self.folder is not None:  # a miss means an extraction next: the entry held is on disk, let it go
            self.memory.clear()
        return None

    def _load(self, key):
        """Read and verify a disk entry; a corrupt or mismatched one is deleted and None returned."""
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"]))
                arrays = {name: _read_aligned(data, name) for name in meta["checksums"]}
            if meta.get("key") != key:
                raise ValueError("key mismatch")
            for name, checksum in meta["checksums"].items():
                if digest_arrays(arrays[name]) != checksum:
                    raise ValueError(f"checksum mismatch in {name}")
        except Exception as exc:  # truncated zip, bad JSON, missing array, wrong checksum: rebuild
            print(f"feature cache: entry {path.name} is unusable ({exc}); rebuilding it", file=sys.stderr)
            path.unlink(missing_ok=True)
            return None
        return arrays

    def put(self, key, arrays, description):
        """Keep arrays in memory and write them to disk atomically with their checksums.

        With a disk folder only the latest entry stays in memory (the others are one verified read
        away), and a miss drops it before the next extraction, so a run over many backbones holds one
        backbone's features at a time (at 96 px VGG16's cut activations of all MNIST are 5.2 GB)."""
        if self.folder is not None:
            self.memory.clear()
        self.memory[key] = arrays
        if self.folder is None:
            return
        meta = {
            "key": key,
            "description": description,
            "checksums": {name: digest_arrays(a) for name, a in arrays.items()},
        }

        def write(temp):
            with open(temp, "wb") as handle:
                np.savez(handle, __meta__=np.array(json.dumps(meta)), **arrays)

        try:
            atomic_write(self.path(key), write)
        except (OSError, OutputError) as exc:  # a full or read-only disk costs the cache, not the run
            self.folder = None  # keep every entry in memory from now on: nothing more is written or read
            print(f"feature cache: {exc}; continuing without the disk cache", file=sys.stderr)


def _read_aligned(archive, name):
    """One array of an open .npz read straight into an aligned buffer (aligned_empty), so that a tensor can
    share it; NumPy's own reader for what that cannot hold (object or Fortran-ordered arrays)."""
    with archive.zip.open(f"{name}.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(member)
        if fortran_order or dtype.hasobject or version not in ((1, 0), (2, 0)):
            return archive[name]
        array = aligned_empty(shape, dtype)
        view = memoryview(array.reshape(-1).view(np.uint8))
        filled = 0
        while filled < len(view):  # in slices: a zip member's readinto reads the whole request into bytes first
            count = member.readinto(view[filled : filled + READ_BYTES])
            if not count:
                raise ValueError(f"{name} is truncated")
            filled += count
    return array


def cache_entries(root):
    """(path, description, bytes) for every feature entry under root."""
    folder = Path(root) / "features"
    entries = []
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        if path.name.startswith("."):  # atomic_write's temp file: a run was killed while writing this entry
            entries.append(
                (path, "(an unfinished write left by a killed run: cache clear removes it)", path.stat().st_size)
            )
            continue
        try:
            with np.load(path, allow_pickle=False) as data:
                description = json.loads(str(data["__meta__"])).get("description", "")
        except Exception:
            description = "(unreadable: will be rebuilt)"
        entries.append((path, description, path.stat().st_size))
    return entries


def clear_cache(root):
    """Delete every feature entry under root; return how many bytes were freed."""
    folder = Path(root) / "features"
    freed = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
    shutil.rmtree(folder, ignore_errors=True)
    return freed
