"""Runs `python3 -m unittest ARGS` in a child forked from a server that has already imported
numpy, xarray (pandas, dask), netCDF4 and zarr: ctest runs one process per test class (~75 per
pass, dev and ASan), and each paid ~1.2-1.8 CPU s of interpreter start and imports before its
first test (measured 2026-12-02, bench/results/2026-12-02-ci-time-5.md). A forked child starts
in a few ms.

Usage (tests/conformance/CMakeLists.txt, tests/s3/CMakeLists.txt):
    /usr/bin/python3 -S pyfork.py [unittest args...]      (cwd: the test module's directory)

The client (this file under -S: standard library only, ~20 ms) connects to the server's Unix
socket at $BAIMS_PYFORK_SOCK, starting the server first if none answers (under a flock, so that
two clients at once start one), and passes its argv, cwd, environment and stdin/stdout/stderr
(SCM_RIGHTS). The server forks; the child takes those over (the environment replaces the
server's, TMPDIR included), imports the test module itself (edits are always seen) and runs
unittest's main; its exit status goes back to the client, which exits with it. What a test sees
is the same as under `python3 -m unittest`: a fresh process image per class (forked from a
server that has run nothing but the imports), own process group, the client's fds and env.
If the client dies (ctest's timeout), the child notices the closed socket and kills its process
group (baims children included). The server exits after $BAIMS_PYFORK_IDLE seconds (default
60) without a connection, or at `pyfork.py --stop SOCK...` (scripts/test.sh's end). Without
BAIMS_PYFORK_SOCK, with BAIMS_PYFORK=0, or when no server can be reached, the client execs
`python3 -m unittest ARGS` itself, as before.
"""

import json
import os
import signal
import socket
import sys
import time

PRELOAD = ("numpy", "xarray", "netCDF4", "zarr")


def _direct(args):
    os.execv(sys.executable, [sys.executable, "-m", "unittest"] + args)


def _connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return None
    return s


def _start_server(path):
    """Starts the server detached (own session, stdio on a log file, not ctest's pipes: ctest
    waits for every holder of its pipes) unless one answers; waits until it accepts."""
    import fcntl
    import subprocess
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        s = _connect(path)
        if s is not None:
            return s
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        with open(path + ".log", "ab") as log:
            subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", path],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, close_fds=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s = _connect(path)
            if s is not None:
                return s
            time.sleep(0.05)
    return None


def client(args):
    path = os.environ.get("BAIMS_PYFORK_SOCK", "")
    if not path or os.environ.get("BAIMS_PYFORK", "1") == "0" or len(path) > 100:
        _direct(args)
    msg = json.dumps({"argv": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    for _ in range(3):
        s = _connect(path) or _start_server(path)
        if s is None:
            break
        try:
            socket.send_fds(s, [len(msg).to_bytes(8, "little") + msg], [0, 1, 2])
            started = s.recv(1)
        except OSError:
            started = b""
        if started != b"S":   # the server went away before forking (idle exit): try again
            s.close()
            continue
        status = b""
        while len(status) < 4:
            part = s.recv(4 - len(status))
            if not part:
                break
            status += part
        if len(status) < 4:
            print("pyfork: the test process ended without an exit status (killed by a signal?)",
                  file=sys.stderr)
            sys.exit(70)
        sys.exit(int.from_bytes(status, "little", signed=True))
    print("pyfork: no fork server reachable, running the tests directly", file=sys.stderr)
    _direct(args)


def _recv_request(conn):
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while len(data) < 8:
        more = conn.recv(8 - len(data))
        if not more:
            raise OSError("short request")
        data += more
    n = int.from_bytes(data[:8], "little")
    body = data[8:]
    while len(body) < n:
        more = conn.recv(n - len(body))
        if not more:
            raise OSError("short request")
        body += more
    return json.loads(body), fds


def _child(conn, req, fds):
    import io
    import tempfile
    import threading
    os.setpgid(0, 0)
    for i, fd in enumerate(fds):
        os.dup2(fd, i)
        os.close(fd)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    tempfile.tempdir = None
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    sys.path[0] = req["cwd"]
    sys.argv = ["python3 -m unittest"] + req["argv"]
    conn.sendall(b"S")
    done = threading.Event()

    def watch():  # the client gone (ctest's timeout): end this test and what it started
        try:
            while conn.recv(1):
                pass
        except OSError:
            pass
        if not done.is_set():
            os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
    code = 1
    try:
        import unittest
        unittest.main(module=None)
    except SystemExit as e:
        code = int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        try:
            done.set()
            conn.sendall(code.to_bytes(4, "little", signed=True))
        finally:
            os._exit(code)


def serve(path):
    import fcntl
    import importlib
    for m in PRELOAD:
        try:
            importlib.import_module(m)
        except ImportError:
            pass
    import gc
    gc.collect()
    gc.freeze()   # the children's collections leave the preloaded objects (and their pages) alone
    idle = float(os.environ.get("BAIMS_PYFORK_IDLE", "60"))
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(64)
    with open(path + ".pid", "w") as f:
        f.write(f"{os.getpid()}\n")
    srv.settimeout(idle)
    while True:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            # idle: leave, unless a client is starting a server right now (it holds the lock)
            with open(path + ".lock", "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue
                os.unlink(path)
                os.unlink(path + ".pid")
                srv.close()
            return
        finally:
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
        conn.settimeout(10)   # a client that never sends its request must not stall the others
        try:
            req, fds = _recv_request(conn)
        except (OSError, ValueError):
            conn.close()
            continue
        conn.settimeout(None)
        pid = os.fork()
        if pid == 0:
            srv.close()
            try:
                _child(conn, req, fds)
            finally:
                os._exit(1)
        for fd in fds:
            os.close(fd)
        conn.close()


def stop(path):
    """Ends the server of socket `path` if it runs (scripts/test.sh at its end); a running test
    child is not touched (own process group)."""
    try:
        with open(path + ".pid") as f:
            pid = int(f.read())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")
    except (OSError, ValueError):
        return
    if len(cmd) >= 3 and cmd[-3] == b"--serve" and \
            os.path.realpath(os.fsdecode(cmd[-2])) == os.path.realpath(path):
        os.kill(pid, signal.SIGTERM)
        for p in (path, path + ".pid"):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["--stop"]:
        for p in sys.argv[2:]:
            stop(p)
    else:
        client(sys.argv[1:])
