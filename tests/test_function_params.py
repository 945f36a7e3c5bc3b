"""workflow/function_params.py: Snakemake's hook for known function parameters must still be
there and still be what Snakemake reads (else every job pays inspect.signature again)."""

import inspect

from daydream.workflow.function_params import read_signatures_once


def test_snakemake_reads_the_recorded_parameters_instead_of_inspecting():
    from snakemake import common

    def resource(wildcards, threads):
        return 1

    assert read_signatures_once(resource)
    recorded = common.get_function_params(resource)
    assert list(recorded) == ["wildcards", "threads"] and recorded == inspect.signature(resource).parameters

    calls = []
    real = inspect.signature

    def counting(function, *args, **kwargs):
        calls.append(function)
        return real(function, *args, **kwargs)

    common.inspect.signature = counting
    try:
        for _ in range(3):
            common.get_function_params(resource)
    finally:
        common.inspect.signature = real
    assert calls == []  # read from the hook, not inspected again


def test_the_aux_parameters_snakemake_derives_are_unchanged():
    from snakemake.common import get_input_function_aux_params

    def with_kwargs(wildcards, **more):
        return 1

    def plain(wildcards, input):
        return 1

    expected = {
        f: get_input_function_aux_params(f, {"input": 1, "output": 2, "threads": 3}) for f in (with_kwargs, plain)
    }
    read_signatures_once(with_kwargs, plain)
    for function, aux in expected.items():
        assert get_input_function_aux_params(function, {"input": 1, "output": 2, "threads": 3}) == aux
