"""The public CLI contract: names, flags, exit codes, --json on stdout."""

from __future__ import annotations

import json

from tests.conftest import VALID_IIN, dalel_subprocess


def test_exit_codes_and_json_through_a_real_process(tmp_path, inbox):
    store = tmp_path / "s"
    assert dalel_subprocess("--store", store, "init", "--org", "Coalition").returncode == 0
    r = dalel_subprocess("--store", store, "ingest", inbox, "--observer", VALID_IIN,
                         "--precinct", "1", "--kind", "protocol", "--json")
    assert r.returncode == 0
    data = json.loads(r.stdout)  # stdout is pure JSON
    assert data["summary"]["stored"] == 3
    (inbox / "empty.jpg").write_bytes(b"")
    r = dalel_subprocess("--store", store, "ingest", inbox / "empty.jpg", "--observer", "o",
                         "--precinct", "1")
    assert r.returncode == 3 and "EMPTY_FILE" in r.stdout
    assert dalel_subprocess("--store", store, "audit").returncode == 0
    r = dalel_subprocess("--store", store, "ingest", inbox, "--observer", "o",
                         "--precinct", "1", "--kind", "nonsense")
    assert r.returncode == 2
    assert dalel_subprocess("--store", store, "bogus-command").returncode == 2
    assert dalel_subprocess("receipt", "verify", inbox / "protocol-1.jpg").returncode == 2


def test_help_names_every_public_command():
    out = dalel_subprocess("--help").stdout
    for cmd in ("init", "ingest", "run", "receipt", "audit", "export-audit", "show", "reindex"):
        assert cmd in out
