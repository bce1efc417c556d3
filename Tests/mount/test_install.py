"""Installing (issue 18, item 2): tools/install puts a binary that needs no Swift toolchain, the
man page, completions and the systemd user unit under a prefix; the installed binary mounts a
vault with the toolchain off PATH and LD_LIBRARY_PATH empty; tools/uninstall removes it all;
tools/package makes the same into a .deb."""
import os
import pathlib
import shutil
import subprocess

from conftest import PASSWORD, is_mounted

ROOT = pathlib.Path(__file__).resolve().parents[2]
INSTALLED = ["bin/sotto", "share/man/man1/sotto.1", "share/bash-completion/completions/sotto",
             "share/zsh/site-functions/_sotto", "share/fish/vendor_completions.d/sotto.fish",
             "lib/systemd/user/sotto-mount@.service"]


def without_toolchain():
    """PATH without any directory holding the Swift toolchain, and no LD_LIBRARY_PATH."""
    swift = shutil.which("swift")
    toolchain = os.path.dirname(os.path.realpath(swift)) if swift else None
    path = [d for d in os.environ["PATH"].split(":") if d and os.path.realpath(d) != toolchain and "swift" not in d]
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env.update(PATH=":".join(path), LD_LIBRARY_PATH="")
    return env


def test_install_runs_without_the_toolchain_and_uninstall_removes_it(tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run([ROOT / "tools" / "install", "--prefix", prefix], check=True, capture_output=True, timeout=1800)
    for f in INSTALLED:
        assert (prefix / f).is_file(), f
    sotto = prefix / "bin" / "sotto"
    assert os.access(sotto, os.X_OK)
    env = without_toolchain()
    assert shutil.which("swift", path=env["PATH"]) is None
    libs = subprocess.run(["ldd", sotto], capture_output=True, text=True, env=env).stdout
    assert "libswift" not in libs and "libFoundation" not in libs and "not found" not in libs, libs
    assert f"{prefix}/bin/sotto mount" in (prefix / "lib/systemd/user/sotto-mount@.service").read_text()
    # The installed binary, alone: a vault made, mounted, written, read back.
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    vault, mnt = tmp_path / "vault", tmp_path / "mnt"
    mnt.mkdir()

    def run(*args):
        r = subprocess.run([sotto, *map(str, args)], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r
    assert run("--version").stdout.startswith("0.")
    run("init", vault, "--password-file", pw, "--kdf-memory", "1", "--kdf-time", "1")
    run("mount", vault, mnt, "--password-file", pw)
    try:
        (mnt / "installed.txt").write_text("written through the installed binary\n")
    finally:
        run("unmount", mnt)
    assert not is_mounted(mnt)
    run("mount", vault, mnt, "--password-file", pw)
    try:
        assert (mnt / "installed.txt").read_text() == "written through the installed binary\n"
    finally:
        run("unmount", mnt)
    subprocess.run([ROOT / "tools" / "uninstall", "--prefix", prefix], check=True, capture_output=True, timeout=60)
    assert [f for f in INSTALLED if (prefix / f).exists()] == []


def test_package_makes_a_deb_of_the_same(tmp_path):
    out = subprocess.run([ROOT / "tools" / "package", "--output", tmp_path], check=True, capture_output=True, text=True,
                         timeout=1800).stdout.strip()
    deb = pathlib.Path(out)
    assert deb.is_file() and deb.parent == tmp_path and deb.name.startswith("sotto_")
    info = subprocess.run(["dpkg-deb", "--info", deb], check=True, capture_output=True, text=True).stdout
    assert "Depends: libc6, libssl3, libargon2-1, libfuse3-3, fuse3, liburing2" in info
    contents = subprocess.run(["dpkg-deb", "--contents", deb], check=True, capture_output=True, text=True).stdout
    for f in INSTALLED:
        assert f"./usr/{f}" in contents, f
