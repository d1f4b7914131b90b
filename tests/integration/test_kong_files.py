"""Kong declarative files shaped like the ones users really have (decK dumps,
documentation-style examples, older format versions, comments, UTF-8 names)
go through `wasmgate check` and `wasmgate check --dump`.

The fixtures live in kong_files/:

* ``ok_*.yaml|json``   load: `check` prints the summary line, and `--dump`
  gives JSON that is stable (same output twice) and loads again unchanged.
* ``refused_*.yaml``   are refused: exit 1, and the set of printed lines equals
  the set of lines in the ``refused_*.expected`` file next to it.

Standalone: the binary comes from $WASMGATE_BIN; nothing from conftest.py.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import re
import subprocess
import time

import pytest
import yaml

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE / "kong_files"

OK_FILES = sorted(p for p in FIXTURES.iterdir() if p.name.startswith("ok_") and p.suffix in (".yaml", ".yml", ".json"))
REFUSED_FILES = sorted(p for p in FIXTURES.iterdir() if p.name.startswith("refused_") and p.suffix in (".yaml", ".yml"))

SUMMARY = re.compile(r"^ok: \d+ services, \d+ routes, \d+ upstreams, \d+ targets$")

# Entity lists of the dump and the nested lists a fixture may hold.
ENTITY_TYPES = ("services", "routes", "upstreams", "targets", "filter_chains", "consumers", "keyauth_credentials",
                "acls", "plugins")
ENTITY_TYPES += ("basicauth_credentials", "hmacauth_credentials", "jwt_secrets")
ENTITY_TYPES += ("certificates", "snis", "ca_certificates")
NESTED = {
    "services": ("routes", "filter_chains", "plugins"),
    "routes": ("filter_chains", "plugins"),
    "upstreams": ("targets",),
    "certificates": ("snis",),
    "consumers": ("plugins", "keyauth_credentials", "acls"),
}
NESTED["consumers"] += ("basicauth_credentials", "hmacauth_credentials", "jwt_secrets")
# Fields of a fixture entity whose written form legitimately differs in the
# dump: shorthands, references (resolved to {"id": ...}) and per-entity notes.
NOT_COMPARED = {"url", "service", "route", "upstream", "consumer", "_comment", "_ignore"}


def binary() -> str:
    return os.environ["WASMGATE_BIN"]


def run(*args: str) -> subprocess.CompletedProcess:
    """Runs the binary; while it is being rebuilt (ETXTBSY), waits and retries."""
    env = {k: v for k, v in os.environ.items() if not (k.startswith("WASMGATE_") and k != "WASMGATE_BIN")}
    deadline = time.monotonic() + 120
    while True:
        try:
            return subprocess.run([binary(), *args], capture_output=True, timeout=60, env=env,
                                  stdin=subprocess.DEVNULL)
        except OSError as e:
            if e.errno not in (errno.ETXTBSY, errno.ENOENT) or time.monotonic() > deadline:
                raise
            time.sleep(5)


def describe(p: subprocess.CompletedProcess) -> str:
    return (f"exit {p.returncode}\n--- stdout\n{p.stdout.decode(errors='replace')}"
            f"--- stderr\n{p.stderr.decode(errors='replace')}")


def dump(path: pathlib.Path) -> tuple[bytes, dict]:
    p = run("check", "--dump", str(path))
    assert p.returncode == 0, describe(p)
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        pytest.fail(f"--dump of {path.name} is not JSON ({e}):\n{describe(p)}")
    assert isinstance(doc, dict), doc
    return p.stdout, doc


def load_fixture(path: pathlib.Path):
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def fixture_entities_with_ids(doc: dict) -> list[tuple[str, dict]]:
    """(entity type, entity as written) for every entity the fixture gives an id."""
    found = []

    def walk(kind: str, items):
        for e in items or []:
            if not isinstance(e, dict):
                continue
            if isinstance(e.get("id"), str):
                found.append((kind, e))
            for child in NESTED.get(kind, ()):
                walk(child, e.get(child))

    for kind in ENTITY_TYPES:
        walk(kind, doc.get(kind))
    return found


OK_FILES_WITH_IDS = [p for p in OK_FILES if fixture_entities_with_ids(load_fixture(p))]


def ids(paths):
    return [p.name for p in paths]


def test_fixtures_present():
    assert len(OK_FILES) >= 8, ids(OK_FILES)
    assert len(REFUSED_FILES) >= 3, ids(REFUSED_FILES)
    for p in REFUSED_FILES:
        assert p.with_suffix(".expected").is_file(), f"{p.name} has no .expected file"


# ---- files that load --------------------------------------------------------


@pytest.mark.parametrize("path", OK_FILES, ids=ids(OK_FILES))
def test_ok_file_checks(path):
    p = run("check", str(path))
    assert p.returncode == 0, describe(p)
    lines = p.stdout.decode().splitlines()
    assert len(lines) == 1 and SUMMARY.match(lines[0]), describe(p)


@pytest.mark.parametrize("path", OK_FILES, ids=ids(OK_FILES))
def test_ok_file_dump_gives_every_entity_an_id(path):
    _, doc = dump(path)
    assert doc.get("_format_version") == "3.0", doc.get("_format_version")
    all_ids = set()
    for kind, items in doc.items():
        if kind.startswith("_"):
            continue
        assert kind in ENTITY_TYPES, f"unexpected top-level key {kind!r} in the dump"
        assert isinstance(items, list), (kind, items)
        for e in items:
            assert isinstance(e, dict), (kind, e)
            assert isinstance(e.get("id"), str) and e["id"], f"{kind} entity without an id: {e}"
            assert e["id"] not in all_ids, f"id {e['id']} given twice"
            all_ids.add(e["id"])
    # References are {"id": ...} and point at an entity of the dump.
    refs = {"routes": ("service",), "targets": ("upstream",), "filter_chains": ("service", "route"),
            "plugins": ("service", "route")}
    for kind, fields in refs.items():
        for e in doc.get(kind, []):
            for f in fields:
                ref = e.get(f)
                if ref is None:
                    continue
                assert isinstance(ref, dict) and set(ref) == {"id"}, f"{kind} {e['id']} field {f}: {ref!r}"
                assert ref["id"] in all_ids, f"{kind} {e['id']} field {f} points nowhere: {ref!r}"


@pytest.mark.parametrize("path", OK_FILES, ids=ids(OK_FILES))
def test_ok_file_dump_is_deterministic(path):
    first, _ = dump(path)
    second, _ = dump(path)
    assert first == second


@pytest.mark.parametrize("path", OK_FILES, ids=ids(OK_FILES))
def test_ok_file_dump_loads_again_unchanged(path, tmp_path):
    summary = run("check", str(path))
    assert summary.returncode == 0, describe(summary)
    text, doc = dump(path)
    again = tmp_path / "dumped.json"
    again.write_bytes(text)
    p = run("check", str(again))
    assert p.returncode == 0, describe(p)
    assert p.stdout == summary.stdout, "the dump does not hold the same entities"
    text2, doc2 = dump(again)
    assert doc2 == doc, "dumping the dump changed ids or values"
    assert text2 == text


@pytest.mark.parametrize("path", OK_FILES_WITH_IDS, ids=ids(OK_FILES_WITH_IDS))
def test_ok_file_dump_keeps_given_ids_and_values(path):
    _, doc = dump(path)
    by_id = {kind: {e["id"]: e for e in doc.get(kind, [])} for kind in ENTITY_TYPES}
    for kind, written in fixture_entities_with_ids(load_fixture(path)):
        got = by_id[kind].get(written["id"])
        assert got is not None, f"{kind} id {written['id']} is not in the dump"
        for field, value in written.items():
            if field in NOT_COMPARED or field in NESTED.get(kind, ()):
                continue
            assert field in got and kept(value, got[field]), \
                f"{kind} {written['id']} field {field}: wrote {value!r}, dump has {got.get(field, '<missing>')!r}"


def kept(written, dumped) -> bool:
    """Whether every value written is in the dump; records may gain the
    defaults of the fields the file left out (a plugin's config)."""
    if isinstance(written, dict) and isinstance(dumped, dict):
        return all(k in dumped and kept(v, dumped[k]) for k, v in written.items())
    return written == dumped


def test_format_21_regex_path_gets_tilde():
    path = FIXTURES / "ok_format_21_regex.yaml"
    written = load_fixture(path)
    assert written["_format_version"] == "2.1"
    assert written["services"][0]["routes"][0]["paths"] == ["/users/\\d+"]
    _, doc = dump(path)
    routes = {r["name"]: r for r in doc["routes"]}
    assert routes["user-by-id"]["paths"] == ["~/users/\\d+"]
    # A plain path stays plain.
    assert routes["users-list"]["paths"] == ["/users"]


def test_format_11_regex_path_gets_tilde():
    path = FIXTURES / "ok_format_11_legacy.yaml"
    assert load_fixture(path)["_format_version"] == "1.1"
    _, doc = dump(path)
    routes = {r["name"]: r for r in doc["routes"]}
    assert routes["order-lines"]["paths"] == ["~/orders/[0-9]+/lines$"]
    assert routes["static-assets"]["paths"] == ["/assets/", "/favicon.ico"]


# ---- files that are refused -------------------------------------------------


@pytest.mark.parametrize("path", REFUSED_FILES, ids=ids(REFUSED_FILES))
def test_refused_file(path):
    expected = [l for l in path.with_suffix(".expected").read_text(encoding="utf-8").splitlines() if l.strip()]
    assert len(expected) == len(set(expected)), "duplicate lines in the .expected file"
    p = run("check", str(path))
    assert p.returncode == 1, describe(p)
    got = p.stdout.decode().splitlines()
    # Each unsupported entity or plugin is named exactly once.
    assert len(got) == len(set(got)), describe(p)
    assert set(got) == set(expected), describe(p)
