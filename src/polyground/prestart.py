"""Stage commands without the interpreter's start-up: import the heavy libraries once, fork per command.

A stage process spends ~5 s importing torch, transformers, scipy and matplotlib before it reads its
first parameter; a pipeline of small stages (the smoke set) is mostly that. Here one process imports
them once and serves every `python -m polyground.MODULE ...` of a command through a Unix socket:

    python -m polyground.prestart -- dvc repro ...      (python -m polyground.prestart --dir DIR: until killed)

runs the command with a `python` first on its PATH that hands those invocations to this process, which
forks: the child takes the caller's working directory, environment, arguments and standard streams, runs
the module as `__main__` and returns its exit status. Any other use of `python` runs the real
interpreter. The results are those of a fresh process: the parent runs no polyground code but this
module's, which the child drops before it imports the caller's package, and each child is a copy of
that parent.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import runpy
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

MODULES = "polyground."  # python -m polyground.<module>: served; anything else: the real interpreter
HEAVY = ("torch", "numpy", "scipy.stats", "scipy.optimize", "matplotlib.pyplot", "transformers", "peft",
         "accelerate", "safetensors.torch", "pydantic", "yaml", "tqdm")  # fmt: skip
HEADER = struct.Struct("!Q")

SHIM = """#!{python} -S
import json, os, socket, struct, sys
args = sys.argv[1:]
if len(args) >= 2 and args[0] == "-m" and args[1].startswith({modules!r}) and args[1] != "polyground.prestart":
    request = json.dumps({{"argv": args[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}).encode()
    with socket.socket(socket.AF_UNIX) as server:
        server.connect({socket!r})
        socket.send_fds(server, [struct.pack("!Q", len(request))], [0, 1, 2])
        server.sendall(request)
        status = b"".join(iter(lambda: server.recv(64), b""))
    sys.exit(int(status or 1))
os.execv({python!r}, [{python!r}, *args])
"""


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the caller closed the connection mid-request")
        data += chunk
    return data


def _run_stage(request: dict, base_path: list[str]) -> int:
    """In the forked child: become a fresh `python -m MODULE ARGS` in the caller's place."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [request["cwd"], *extra, *base_path]
    for name in [name for name in sys.modules if name.partition(".")[0] == "polyground"]:
        del sys.modules[name]  # this server's own package: the stage imports the caller's
    importlib.invalidate_caches()
    module, *args = request["argv"]
    sys.argv = ["-m", *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            status = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    return status


def _serve_one(conn: socket.socket, base_path: list[str]) -> int:
    """Fork a child for one request; the child answers the caller. Returns the child's pid."""
    header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
    header += _read_exactly(conn, HEADER.size - len(header))
    request = json.loads(_read_exactly(conn, HEADER.unpack(header)[0]))
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        conn.close()
        return pid
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    atexit._clear()  # the exit handlers the parent registered are the parent's, not this stage's
    status = 1
    try:
        status = _run_stage(request, base_path)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(str(status).encode())
        conn.close()
        os._exit(status)


def serve(directory: Path, command: list[str]) -> int:
    """Serve polyground commands from DIRECTORY (its `python` and socket) until COMMAND, run with that
    `python` first on its PATH, ends (its exit status), or with no COMMAND until terminated."""
    for name in HEAVY:
        importlib.import_module(name)
    own = {os.getcwd(), *os.environ.get("PYTHONPATH", "").split(os.pathsep)}
    base_path = [p for p in sys.path if p and p not in own]
    address = str(directory / "socket")
    children: set[int] = set()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(address)
        listener.listen()
        listener.settimeout(0.2)
        shim = directory / "python.tmp"
        shim.write_text(SHIM.format(python=sys.executable, modules=MODULES, socket=address))
        shim.chmod(0o755)
        shim.rename(directory / "python")  # its presence says the server is listening
        env = {**os.environ, "PATH": f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"}
        caller = subprocess.Popen(command, env=env) if command else None
        while caller is None or caller.poll() is None:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                conn = None
            if conn is not None:
                conn.settimeout(None)
                children.add(_serve_one(conn, base_path))
            for pid in list(children):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    children.discard(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return caller.returncode


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.prestart", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, help="serve from this directory (default: a temporary one)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command and args.dir is None:
        sys.exit("error: no command given; usage: python -m polyground.prestart [--dir DIR] -- COMMAND [ARGS...]")
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        sys.exit(serve(args.dir, command))
    directory = Path(tempfile.mkdtemp(prefix="polyground-prestart-"))
    try:
        sys.exit(serve(directory, command))
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
