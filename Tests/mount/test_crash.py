"""The crash test of docs/reliability.md, in CI: 50 rounds of kill -9 to the mount daemon during
heavy mixed writes, and 50 killed `sotto passwd` runs (tools/crash-test says what is checked)."""
import json
import subprocess

from conftest import ROOT, SOTTO


def test_fifty_killed_daemons_and_fifty_killed_passwds_lose_nothing_fsynced():
    r = subprocess.run([ROOT / "tools" / "crash-test", "--rounds", "50", "--passwd-rounds", "50"],
                       capture_output=True, text=True, timeout=1800, env={"SOTTO_BIN": SOTTO, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    stats = json.loads(r.stdout.strip().splitlines()[-1])
    assert stats["rounds"] == 50 and stats["passwd_rounds"] == 50
    assert stats["journaled_files_checked"] > 1000
