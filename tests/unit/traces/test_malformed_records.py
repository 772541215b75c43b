"""Malformed records of every shape are counted or tolerated, never raised (issue 3, point 4)."""

import copy
import random

import orjson

from batcheval.traces.assemble import assemble
from batcheval.traces.render import inspect_json, inspect_table
from batcheval.traces.samples import FRAMEWORKS, generate

_JUNK = [None, 0, -1, 1.5, True, "", "x", "[1,", "{}", "[]", [], {}, [None], {"a": None}, 10**30]


def _mutate(value, rng, depth=0):
    """Replace a random part of a JSON value with junk of another type."""
    if isinstance(value, dict) and value and depth < 4:
        key = rng.choice(sorted(value))
        if rng.random() < 0.15:
            del value[key]
        else:
            value[key] = _mutate(value[key], rng, depth + 1)
        return value
    if isinstance(value, list) and value and depth < 4:
        index = rng.randrange(len(value))
        value[index] = _mutate(value[index], rng, depth + 1)
        return value
    return copy.deepcopy(rng.choice(_JUNK))


def _as_line(record):
    try:
        return orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits: keep the dict
        return record


def test_randomly_damaged_records_never_crash_assembly_or_rendering():
    # Given records of every framework and mode, each damaged in random places, 20 rounds
    rng = random.Random(2026)
    originals = generate(6, seed=1, frameworks=FRAMEWORKS).records + generate(6, seed=2, mode="split").records
    for _ in range(20):
        damaged = []
        for record in originals:
            copy_ = copy.deepcopy(record)
            for _ in range(rng.randint(0, 3)):
                copy_ = _mutate(copy_, rng)
            damaged.append(copy_)
        lines = [_as_line(r) if rng.random() < 0.5 else r for r in damaged]

        # When assembled and rendered, Then nothing raises and every session renders
        assembly = assemble(lines)
        inspect_table(assembly.sessions, assembly.skipped)
        orjson.dumps(inspect_json(assembly.sessions, assembly.skipped))
