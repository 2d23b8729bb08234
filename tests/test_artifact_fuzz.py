"""Mutation fuzzing of the artifact loader: every damaged or malformed artifact either loads and
answers exactly as the original, or raises :class:`ArtifactError` (no other exception, no crash).

Mutations: truncations, flipped bytes (anywhere: headers, compressed data, the directory),
swapped members, huge declared member sizes, nested zips, non-UTF-8 and non-JSON manifests, and
every manifest field (walked recursively) replaced by a value of another JSON type. Mutations of
a member's content are *resealed* (checksums recomputed, as someone editing the file by hand
would), so they reach the manifest checks instead of stopping at the checksums.

The CI run draws ``CI_CASES`` mutations with a fixed seed; ``pytest -m slow`` runs ``LONG_CASES``.
"""
import io
import json
import re
import struct
import zipfile

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import cmlc
from cmlc.errors import ArtifactError
from cmlc.runtime.artifact import CHECKSUMS, LIBRARY, MANIFEST, checksums
from conftest import classification_data, fresh_rows

CI_CASES, LONG_CASES = 300, 10_000
LABELS = np.array(["ash", "birch", "cedar"])
WRONG_VALUES = [None, "x", 1.5, -1, 2 ** 70, True, [], [1, "a"], {}, {"k": 1}]


@pytest.fixture(scope="module")
def original():
    X, y = classification_data(3, n_features=5)
    cm = cmlc.compile(LogisticRegression(max_iter=300).fit(X, LABELS[y]))
    buffer = io.BytesIO()
    cm.save(buffer)
    Xq = fresh_rows(X, n=9)
    return buffer.getvalue(), Xq, {m: getattr(cm, m)(Xq) for m in ("predict", "predict_proba")}


def members(blob: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def zipped(items: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def resealed(manifest: bytes, library: bytes) -> bytes:
    """An artifact of these members with checksums that match them."""
    return zipped({MANIFEST: manifest, LIBRARY: library, CHECKSUMS: json.dumps(checksums(manifest, library)).encode()})


def paths(value, prefix=()):
    """Every path into the JSON ``value`` (object keys and list indices)."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from paths(item, prefix + (key,))


def replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


def mutate(blob: bytes, rng) -> bytes:
    """One mutated copy of the artifact ``blob``."""
    kind = rng.integers(8)
    if kind == 0:                                    # truncated
        return blob[: rng.integers(len(blob))]
    if kind == 1:                                    # bytes flipped anywhere
        data = bytearray(blob)
        for at in rng.integers(len(data), size=rng.integers(1, 9)):
            data[at] ^= int(rng.integers(1, 256))
        return bytes(data)
    parts = members(blob)
    if kind == 2:                                    # members swapped or dropped
        names = list(parts)
        a, b = rng.choice(len(names), size=2, replace=False)
        if rng.random() < 0.5:
            parts[names[a]], parts[names[b]] = parts[names[b]], parts[names[a]]
        else:
            del parts[names[a]]
        return zipped(parts)
    if kind == 3:                                    # a huge declared size in a local or central header
        data, sizes = bytearray(blob), _size_fields(blob)
        at = sizes[rng.integers(len(sizes))]
        data[at: at + 4] = struct.pack("<I", int(rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 1 << 31, 5 << 30 & 0xFFFFFFFF])))
        return bytes(data)
    if kind == 4:                                    # a zip inside a member, or the artifact inside a zip
        name = [MANIFEST, LIBRARY, "inner.cmlc"][rng.integers(3)]
        return zipped({**(parts if name != "inner.cmlc" else {}), name: blob})
    manifest = json.loads(parts[MANIFEST])
    if kind == 5:                                    # not UTF-8, or not JSON
        text = parts[MANIFEST]
        cut = int(rng.integers(len(text)))
        bad = [text[:cut] + b"\xff\xfe" + text[cut:], text[:cut], b"[" * 100_000, b"\x00" * 64][rng.integers(4)]
        return resealed(bad, parts[LIBRARY])
    if kind == 6:                                    # a field of another JSON type
        all_paths = [p for p in paths(manifest) if p]
        path = all_paths[rng.integers(len(all_paths))]
        old = _get(manifest, path)
        choices = [v for v in WRONG_VALUES if type(v) is not type(old)]
        new = choices[rng.integers(len(choices))]
        return resealed(json.dumps(replaced(manifest, path, new)).encode(), parts[LIBRARY])
    # kind 7: a field removed
    all_paths = [p for p in paths(manifest) if p and isinstance(_get(manifest, p[:-1]), dict)]
    path = all_paths[rng.integers(len(all_paths))]
    parent = dict(_get(manifest, path[:-1]))
    del parent[path[-1]]
    return resealed(json.dumps(replaced(manifest, path[:-1], parent)).encode(), parts[LIBRARY])


def _get(value, path):
    for key in path:
        value = value[key]
    return value


def _size_fields(blob: bytes) -> list[int]:
    """Offsets of the compressed and uncompressed size fields of every local and central header."""
    local = [m.start() + off for m in re.finditer(rb"PK\x03\x04", blob) for off in (18, 22)]
    return local + [m.start() + off for m in re.finditer(rb"PK\x01\x02", blob) for off in (20, 24)]


def assert_answers_exactly(model, X, expected: dict, label: str) -> None:
    """Every method of a loaded mutant answers as the original (a mutant whose manifest lost a
    method is a model with fewer methods, each still exact; at least one is left)."""
    methods = [m for m in expected if m in model.manifest["methods"]]
    assert methods, label
    for method in methods:
        np.testing.assert_array_equal(getattr(model, method)(X), expected[method], err_msg=f"{label}: {method}")


def check_mutations(original, cases: int, seed: int) -> dict:
    blob, X, expected = original
    rng = np.random.default_rng(seed)
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(cases):
        mutated = mutate(blob, rng)
        try:
            model = cmlc.load(io.BytesIO(mutated))
        except ArtifactError:
            outcomes["refused"] += 1
            continue
        except Exception as err:   # noqa: BLE001 -- the failure this test looks for
            pytest.fail(f"case {case}: the loader raised {type(err).__name__}: {err}")
        assert_answers_exactly(model, X, expected, f"case {case}")
        outcomes["loaded"] += 1
    return outcomes


def test_mutated_artifacts_load_exactly_or_raise_artifact_error(original):
    outcomes = check_mutations(original, CI_CASES, seed=0)
    assert outcomes["refused"] > CI_CASES // 2, outcomes      # most mutations break the file


@pytest.mark.slow
def test_mutated_artifacts_long(original):
    outcomes = check_mutations(original, LONG_CASES, seed=1)
    assert outcomes["refused"] > LONG_CASES // 2, outcomes


@pytest.mark.parametrize("every_value", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_every_manifest_field_with_a_wrong_type_is_refused_or_harmless(original, every_value):
    """Every field of the manifest, in turn, replaced by values of other JSON types (three per
    field, rotating through :data:`WRONG_VALUES`; every value of every field under -m slow)."""
    blob, X, expected = original
    parts = members(blob)
    manifest = json.loads(parts[MANIFEST])
    for index, path in enumerate(p for p in paths(manifest) if p):
        old = _get(manifest, path)
        wrong = [v for v in WRONG_VALUES if type(v) is not type(old)]
        for new in wrong if every_value else [wrong[(index + k) % len(wrong)] for k in range(3)]:
            mutated = resealed(json.dumps(replaced(manifest, path, new)).encode(), parts[LIBRARY])
            try:
                model = cmlc.load(io.BytesIO(mutated))
            except ArtifactError:
                continue
            assert_answers_exactly(model, X, expected, f"{path} = {new!r}")


def test_member_sizes_are_bounded_before_reading(original, monkeypatch):
    """A member declaring more bytes than its limit is refused without reading it."""
    from cmlc.runtime import artifact
    monkeypatch.setitem(artifact.MEMBER_LIMITS, LIBRARY, 1000)
    with pytest.raises(ArtifactError, match="declares .* bytes"):
        cmlc.load(io.BytesIO(original[0]))
