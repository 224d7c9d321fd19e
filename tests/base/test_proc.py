"""The one timed runner: results, stdin, a timeout that kills everything, a missing program,
capped output."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from pathlib import Path

import pytest

from base import proc
from base.errors import EXIT_ENVIRONMENT, BrokenEnvironment, ProgramMissing


def test_a_real_program_gives_its_status_and_both_outputs() -> None:
    res = proc.run(["sh", "-c", "printf out; printf 'first\\nlast\\n' >&2; exit 3"], timeout=30)
    assert res.returncode == 3
    assert res.stdout == b"out"
    assert res.stderr == b"first\nlast\n"
    assert res.stderr_last_line() == "last"
    assert not res.timed_out and not res.ok
    assert not res.stdout_truncated and not res.stderr_truncated
    assert 0 <= res.elapsed < 30
    assert os.path.isabs(res.argv[0]) and res.argv[1:] == ("-c", res.argv[2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.returncode = 0  # type: ignore[misc]


def test_success_is_ok() -> None:
    res = proc.run(["sh", "-c", "exit 0"], timeout=30)
    assert res.ok and res.returncode == 0 and res.stdout == b""


def test_stdin_bytes_and_stdin_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1024  # more than a pipe holds
    assert proc.run(["cat"], timeout=30, stdin=data).stdout == data
    src = tmp_path / "in.bin"
    src.write_bytes(b"from a file")
    assert proc.run(["cat"], timeout=30, stdin_file=src).stdout == b"from a file"
    assert proc.run(["cat"], timeout=30).stdout == b""  # no stdin: empty, never the terminal
    with pytest.raises(ValueError):
        proc.run(["cat"], timeout=30, stdin=b"x", stdin_file=src)


def test_env_replaces_the_environment() -> None:
    env = {"PATH": os.environ["PATH"], "DALEL_PROC_TEST": "given"}
    res = proc.run(["sh", "-c", 'printf %s "$DALEL_PROC_TEST:$HOME"'], timeout=30, env=env)
    assert res.stdout == b"given:"


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (it may be a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_timeout_is_a_result_and_kills_what_the_program_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    res = proc.run(
        ["sh", "-c", f'sleep 60 & echo $! > "{pid_file}"; printf partial; wait'], timeout=0.5
    )
    assert time.monotonic() - started < 10
    assert res.timed_out and not res.ok
    assert res.returncode < 0  # killed by a signal
    assert res.stdout == b"partial"
    assert 0.5 <= res.elapsed < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child), "the grandchild outlived the timeout"


def test_a_child_holding_the_pipe_open_cannot_hang_the_caller() -> None:
    started = time.monotonic()
    res = proc.run(["sh", "-c", "sleep 60 & exit 0"], timeout=0.5)
    assert time.monotonic() - started < 10
    assert res.timed_out


def test_missing_program_is_a_broken_environment_naming_the_package(tmp_path: Path) -> None:
    with pytest.raises(ProgramMissing) as err:
        proc.run(["dalel-no-such-program"], timeout=5, package="dalel-tools")
    assert isinstance(err.value, BrokenEnvironment)
    assert err.value.exit_code == EXIT_ENVIRONMENT == 4
    assert err.value.program == "dalel-no-such-program"
    assert "dalel-no-such-program" in err.value.message
    assert err.value.fix is not None and "apt-get install dalel-tools" in err.value.fix
    # looked up on the PATH of the environment given
    with pytest.raises(ProgramMissing):
        proc.run(["sh", "-c", "true"], timeout=5, env={"PATH": str(tmp_path)}, package="dash")


def test_a_program_that_cannot_start_is_a_broken_environment(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-program"
    bad.write_bytes(b"\x7fELF garbage")
    bad.chmod(bad.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(ProgramMissing) as err:
        proc.run([str(bad)], timeout=5, package="dalel-tools")
    assert err.value.exit_code == 4 and "cannot run" in err.value.message


def test_output_is_capped_and_the_program_is_not_blocked() -> None:
    res = proc.run(
        ["sh", "-c", "head -c 1000000 /dev/zero; head -c 10 /dev/zero >&2"],
        timeout=30,
        max_output=1000,
    )
    assert res.ok
    assert res.stdout == b"\0" * 1000 and res.stdout_truncated
    assert res.stderr == b"\0" * 10 and not res.stderr_truncated


def test_output_exactly_at_the_cap_is_not_truncated() -> None:
    res = proc.run(["sh", "-c", "printf 12345"], timeout=30, max_output=5)
    assert res.stdout == b"12345" and not res.stdout_truncated
