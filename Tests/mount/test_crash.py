"""The crash test of docs/reliability.md, in CI: 50 rounds of kill -9 to the mount daemon during
heavy mixed writes, 50 killed `sotto passwd` runs and 30 killed `sotto rekey` runs
(tools/crash-test says what is checked)."""
import json
import subprocess

from conftest import ROOT, SOTTO


def test_killed_daemons_passwds_and_rekeys_lose_nothing():
    r = subprocess.run([ROOT / "tools" / "crash-test", "--rounds", "50", "--passwd-rounds", "50", "--rekey-rounds", "30"],
                       capture_output=True, text=True, timeout=1800, env={"SOTTO_BIN": SOTTO, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    stats = json.loads(r.stdout.strip().splitlines()[-1])
    assert stats["rounds"] == 50 and stats["passwd_rounds"] == 50 and stats["rekey_rounds"] == 30
    assert stats["rekeys_cut_midway"] > 0  # some kills landed inside a rotation, not only around it
    assert stats["journaled_files_checked"] > 1000
