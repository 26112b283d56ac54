"""Shared helpers for the PyTorch anchors: timing (warm-up, repetitions, median) and machine/BLAS info.

Run by bench/lib/anchor.mjs with /usr/bin/python3 (Debian python3-torch); prints one JSON object on stdout.
"""
import ctypes
import ctypes.util
import json
import os
import statistics
import sys
import time


def timeit(fn, warmup=2, reps=7):
    """Median and min wall time in milliseconds of fn() after warm-up calls, and the median CPU time of the
    process per call (all threads; on a shared machine the figure least disturbed by other work)."""
    for _ in range(warmup):
        fn()
    times = []
    cpu = []
    for _ in range(reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "reps": reps, "samples_ms": times,
            "cpu_ms": statistics.median(cpu)}


def blas_info():
    """Which OpenBLAS core the process runs (openblas_get_corename), when OpenBLAS is the BLAS loaded."""
    for name in ("libblas.so.3", "libopenblas.so.0", ctypes.util.find_library("openblas")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            fn = lib.openblas_get_corename
            fn.restype = ctypes.c_char_p
            config = lib.openblas_get_config
            config.restype = ctypes.c_char_p
            return {"library": name, "core": fn().decode(), "config": config().decode()}
        except (OSError, AttributeError):
            continue
    return {"library": "unknown"}


def torch_info(torch):
    return {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "blas": blas_info(),
        "openblas_env_unset": os.environ.get("DUALITY_BENCH_UNSET_OPENBLAS", ""),
    }


def emit(result):
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
