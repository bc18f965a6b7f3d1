"""Where spyctl writes a file the user named (--output, --save-config):

    python3.11 test_spyctl_output.py        (SPYCTL: the spyctl binary)

Stories: a character device stays a device (as root a private copy of
/dev/null, made with mknod, stands in for /dev/null itself so a broken
spyctl cannot replace the machine's; then /dev/null itself); a symlink is
written through, the link kept; a dangling symlink creates its target; a
FIFO gets the bytes; `-` is standard output and no file named `-` appears;
a full device (/dev/full, or a private copy as root) and a full standard
output give `spyctl: cannot write PATH: No space left on device` and exit
1; a path in a missing directory is refused by name and the directory is
not created; a regular file is replaced whole and keeps its mode;
--save-config follows the same rules.
"""

import json
import os
import stat
import subprocess
import sys
import tempfile
import threading

import harness
from harness import log

SPYCTL = os.environ.get("SPYCTL") or os.path.join(harness.REPO, "build", "spyctl", "spyctl")
TMP = tempfile.mkdtemp(prefix="spy-output-")
PROFILE = os.path.join(harness.REPO, "tests", "data", "pyspy.collapsed.txt")
ROOT = os.geteuid() == 0


def spyctl(args, timeout=60, stdout_path=None):
    cmd = [SPYCTL] + [str(a) for a in args]
    if stdout_path is None:
        return harness.run(cmd, env=harness.clean_env(), timeout=timeout, cwd=TMP)
    with open(stdout_path, "wb") as out:
        p = subprocess.run(cmd, env=harness.clean_env(), stdout=out, stderr=subprocess.PIPE, cwd=TMP,
                           timeout=timeout, universal_newlines=True)
    return harness.Result(cmd, p.returncode, "", p.stderr, 0, False)


def device(name, major, minor, system_path):
    """A character device to write to: as root a private one made with
    mknod (so a spyctl that replaces it harms nothing), else the system's."""
    if not ROOT:
        return system_path
    path = os.path.join(TMP, name)
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    return path


def is_chr(path):
    try:
        return stat.S_ISCHR(os.lstat(path).st_mode)
    except OSError:
        return False


def expected_collapsed(c):
    ref = os.path.join(TMP, "reference.txt")
    r = spyctl(["convert", PROFILE, "--to", "collapsed", "--output", ref])
    c.process_ok(r, "convert to a regular file")
    with open(ref, "rb") as f:
        data = f.read()
    c.ok(len(data) > 100, "the reference conversion has content (%d bytes)" % len(data))
    return data


def test_devices(c, want):
    c.section("a character device stays a device")
    null = device("null", 1, 3, "/dev/null")
    r = spyctl(["convert", PROFILE, "--to", "svg", "--output", null])
    c.process_ok(r, "convert --output %s" % null)
    c.ok(is_chr(null), "%s is still a character device" % null)
    if ROOT and is_chr(null):
        r = spyctl(["convert", PROFILE, "--to", "svg", "--output", "/dev/null"])
        c.process_ok(r, "convert --output /dev/null")
        c.ok(is_chr("/dev/null"), "/dev/null is still a character device")
    r = spyctl(["--save-config", null])
    c.process_ok(r, "--save-config %s" % null)
    c.ok(is_chr(null), "--save-config: %s is still a character device" % null)

    c.section("a full device: a clear error, exit 1")
    full = device("full", 1, 7, "/dev/full")
    r = spyctl(["convert", PROFILE, "--to", "collapsed", "--output", full])
    c.process_ok(r, "convert --output %s" % full, want_rc=1)
    c.eq(r.stderr.strip(), "spyctl: cannot write %s: No space left on device" % full, "the message")
    c.ok(is_chr(full), "%s is still a character device" % full)

    c.section("standard output full: a clear error, exit 1")
    r = spyctl(["report", PROFILE], stdout_path="/dev/full")
    c.process_ok(r, "report > /dev/full", want_rc=1)
    c.eq(r.stderr.strip(), "spyctl: cannot write standard output: No space left on device", "the message")


def test_symlinks(c, want):
    c.section("a symlink is written through")
    target = os.path.join(TMP, "target.txt")
    link = os.path.join(TMP, "link.txt")
    with open(target, "w") as f:
        f.write("old\n")
    os.symlink("target.txt", link)  # relative, as people make them
    r = spyctl(["convert", PROFILE, "--to", "collapsed", "--output", link])
    c.process_ok(r, "convert --output link.txt")
    c.ok(os.path.islink(link), "link.txt is still a symlink")
    with open(target, "rb") as f:
        c.ok(f.read() == want, "its target has the new content")
    c.eq(sorted(n for n in os.listdir(TMP) if n.startswith(".")), [], "no temporary file is left behind")

    c.section("a dangling symlink creates its target")
    sub = os.path.join(TMP, "sub")
    os.mkdir(sub)
    dangling = os.path.join(TMP, "dangling.txt")
    os.symlink(os.path.join(sub, "new.txt"), dangling)
    r = spyctl(["convert", PROFILE, "--to", "collapsed", "--output", dangling])
    c.process_ok(r, "convert --output dangling.txt")
    c.ok(os.path.islink(dangling), "dangling.txt is still a symlink")
    c.ok(os.path.isfile(os.path.join(sub, "new.txt")) and open(os.path.join(sub, "new.txt"), "rb").read() == want,
         "sub/new.txt holds the output")

    c.section("--save-config through a symlink")
    cfg, cfg_link = os.path.join(TMP, "cfg.json"), os.path.join(TMP, "cfg-link.json")
    with open(cfg, "w") as f:
        f.write("{}\n")
    os.symlink(cfg, cfg_link)
    r = spyctl(["--port", "8123", "--save-config", cfg_link])
    c.process_ok(r, "--save-config cfg-link.json")
    c.ok(os.path.islink(cfg_link), "the link stays a link")
    try:
        port = json.load(open(cfg)).get("port")
    except ValueError:
        port = None
    c.eq(port, 8123, "its target holds the settings")


def test_fifo(c, want):
    c.section("a FIFO gets the bytes")
    fifo = os.path.join(TMP, "fifo")
    os.mkfifo(fifo)
    got = []

    def reader():
        with open(fifo, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    r = spyctl(["convert", PROFILE, "--to", "collapsed", "--output", fifo], timeout=30)
    if r.timed_out:  # a spyctl that replaced the FIFO leaves the reader waiting: release it
        with open(fifo, "wb"):
            pass
    t.join(10)
    c.process_ok(r, "convert --output fifo")
    c.ok(stat.S_ISFIFO(os.lstat(fifo).st_mode), "fifo is still a FIFO")
    c.ok(got and got[0] == want, "the reader got the whole output (%d bytes)" % (len(got[0]) if got else 0))


def test_stdout(c, want):
    c.section("`-` is standard output")
    r = harness.run([SPYCTL, "convert", PROFILE, "--to", "collapsed", "--output", "-"], env=harness.clean_env(),
                    cwd=TMP)
    c.process_ok(r, "convert --output -")
    c.ok(r.stdout.encode() == want, "standard output has the bytes (%d)" % len(r.stdout))
    c.ok(not os.path.exists(os.path.join(TMP, "-")), "no file named `-` was written")
    r = spyctl(["report", PROFILE, "--output", "-"])
    c.process_ok(r, "report --output -")
    c.ok("Top functions" in r.stdout or len(r.stdout) > 200, "the report is on standard output", r.stdout[:300])
    r = spyctl(["--port", "8124", "--save-config", "-"])
    c.process_ok(r, "--save-config -")
    try:
        c.eq(json.loads(r.stdout).get("port"), 8124, "the settings are on standard output")
    except ValueError:
        c.ok(False, "the settings on standard output are JSON", r.stdout[:300])
    c.ok(not os.path.exists(os.path.join(TMP, "-")), "still no file named `-`")


def test_regular(c, want):
    c.section("a path in a missing directory is refused")
    missing = os.path.join(TMP, "nope", "deeper", "out.txt")
    r = spyctl(["convert", PROFILE, "--to", "collapsed", "--output", missing])
    c.process_ok(r, "convert --output nope/deeper/out.txt", want_rc=1)
    c.ok(r.stderr.startswith("spyctl: cannot write %s: No such file or directory" % missing)
         and len(r.stderr_lines()) == 1, "one line naming the path and the reason", r.stderr)
    c.ok(not os.path.exists(os.path.join(TMP, "nope")), "the directory was not created")
    r = spyctl(["convert", PROFILE, "--to", "collapsed", "--output", TMP])
    c.process_ok(r, "convert --output DIRECTORY", want_rc=1)
    c.eq(r.stderr.strip(), "spyctl: cannot write %s: Is a directory" % TMP, "a directory is refused")

    c.section("a regular file is replaced whole and keeps its mode")
    out = os.path.join(TMP, "mode.txt")
    with open(out, "w") as f:
        f.write("old\n")
    os.chmod(out, 0o600)
    r = spyctl(["convert", PROFILE, "--to", "collapsed", "--output", out])
    c.process_ok(r, "convert over an existing file")
    c.ok(open(out, "rb").read() == want, "it holds the new content")
    c.eq(oct(os.stat(out).st_mode & 0o777), oct(0o600), "its mode is kept")


def main():
    if not os.access(SPYCTL, os.X_OK):
        log("FAIL: spyctl not built: %s" % SPYCTL)
        return 1
    c = harness.Checks("spyctl-output")
    want = expected_collapsed(c)
    test_devices(c, want)
    test_symlinks(c, want)
    test_fifo(c, want)
    test_stdout(c, want)
    test_regular(c, want)
    c.finish()


if __name__ == "__main__":
    sys.exit(main())
