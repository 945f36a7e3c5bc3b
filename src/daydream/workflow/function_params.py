"""The rules' input, params, threads and resources functions read once by `inspect.signature`,
not once per job.

Snakemake asks each such function which of wildcards, input, output, threads, resources it takes
(`snakemake.common.get_function_params`) every time it expands a job: `inspect.signature` every
time, 8 % of the main process's CPU in a run whose jobs only wait on a provider. Snakemake has a
hook for functions whose parameters are known: `overwrite_function_params(func, params)` (its own
`subpath`, `prepend_param` and `as_py_module` helpers use it), read first by get_function_params.
Here it is given each function's own signature, so Snakemake sees exactly what it would compute.
A Snakemake without the hook runs the same, only busier; tests/test_function_params.py fails
when the hook is gone or no longer read."""

from __future__ import annotations

import inspect
from collections.abc import Callable


def read_signatures_once(*functions: Callable) -> bool:
    """Record each function's parameters where Snakemake looks first; False when this Snakemake
    has no such hook (then nothing is changed)."""
    try:
        from snakemake.common import overwrite_function_params
    except ImportError:
        return False
    for function in functions:
        overwrite_function_params(function, inspect.signature(function).parameters)
    return True
