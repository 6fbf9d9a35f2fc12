"""What every benchmark prints about the machine it ran on: the CPU model and its vector extensions (machines here
differ), and its measured float32 matmul rate (the floor that benchmarks set their figures against)."""

import platform
import time
from pathlib import Path

# the extensions that decide float32/bfloat16/int8 matmul speed here: machines in this workplace differ in them
VECTOR_EXTENSIONS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_model():
    """The CPU model name and its vector extensions."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        name = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = next(line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags"))
        return f"{name} ({', '.join(f for f in VECTOR_EXTENSIONS if f in flags)})"
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def matmul_rate():
    """Float32 multiply-adds per second of a 2048x2048 matmul in TensorFlow (best of 5)."""
    import tensorflow as tf

    a = tf.random.normal((2048, 2048))
    tf.matmul(a, a)
    best = min(timed(lambda: tf.matmul(a, a).numpy()) for _ in range(5))
    return 2048**3 / best


def timed(run):
    """Seconds that run() took."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start
