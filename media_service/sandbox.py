"""Confining ffmpeg: what it may reach while it parses an upload (hostile bytes, decoders in C).

Layers, each applied when this machine has it (FFMPEG_SANDBOX=auto), all of them or the service
refuses to start (require), or none (off):

- No network for runs on local files: `unshare --net` gives ffmpeg an empty network namespace
  (a connect to 127.0.0.1 fails with ENETUNREACH). Runs that read our own presigned URL keep
  the network, and Landlock (ABI 4+) then lets them connect to that URL's TCP port only.
- No privileges: `setpriv --no-new-privs --bounding-set=-all --inh-caps=-all`: uid 0 without any
  capability (no CAP_DAC_OVERRIDE, CAP_SYS_ADMIN, CAP_KILL, ...). We do not switch to nobody: the
  job's folder is root-owned and would have to be opened up to that uid, and stored files are
  world-readable, so nobody could read every other user's folder as easily as root could.
- Landlock (this file run as a tiny launcher before exec): ffmpeg may read and write beneath its
  job's folder only (the folders of the files named in its argv), read the system's libraries and
  its own binary, and nothing else: not STORAGE_ROOT, not SCRATCH_ROOT, not /tmp, not the keys.
  It cannot signal or ptrace processes outside its domain (the service, other ffmpegs).

`sandbox_prefix` is a pure function of the detected capabilities and the argv; `detect` runs once
at startup. This module imports only the standard library: it is also the launcher
(`python -I -S sandbox.py --rw DIR ... -- ffmpeg ...`).
"""

from __future__ import annotations

# The launcher comes first and needs only os and sys (plus ctypes and struct when it runs):
# it starts before every ffmpeg run, so it must not pay for the imports the service side uses.
import os
import re
import sys

# What any ffmpeg run may read: libraries, the loader's cache, name resolution and TLS roots (for
# presigned https URLs), /dev/null and random numbers. Missing ones are skipped.
SYSTEM_READ_PATHS = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/localtime",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/proc/self",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/sys/devices/system/cpu",
)

# Landlock ABI (linux/landlock.h).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # x86_64 and arm64 alike
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_PR_SET_NO_NEW_PRIVS = 38


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # EXECUTE .. MAKE_SYM (ABI 1)
    if abi >= 2:
        rights |= 1 << 13  # REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def _file_rights(abi: int) -> int:
    """The rights that apply to a file (a rule on a file may hold only these)."""
    return _fs_rights(abi) & (_FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV)


def landlock_abi() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(abi), 0)


# ---- the launcher: apply Landlock, then exec ffmpeg -----------------------------------------
def _restrict(executable: str, rw_folders: list[str], tcp_ports: list[int] | None) -> None:
    import ctypes
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    abi = landlock_abi()
    fs = _fs_rights(abi)
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 and tcp_ports is not None else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(_SYS_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")

    def allow(path: str, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # a system path this machine does not have
        try:
            if not os.path.isdir(path):
                rights &= _file_rights(abi)
            rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
            if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, ctypes.c_uint32(0)) < 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
        finally:
            os.close(fd)

    read = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    for path in SYSTEM_READ_PATHS:
        allow(path, read)
    allow(executable, read)
    for folder in rw_folders:
        allow(folder, fs)
    for port in tcp_ports or []:
        rule = ctypes.create_string_buffer(struct.pack("=QQ", _NET_CONNECT_TCP, port), 16)
        if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_NET_PORT, rule, ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_add_rule port")
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) < 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(ruleset)


def _launch(args: list[str]) -> None:
    split = args.index("--")
    options, argv = args[:split], args[split + 1 :]
    executable, rw_folders, tcp_ports = argv[0], [], None
    pairs = iter(options)
    for option in pairs:
        if option == "--exec":
            executable = next(pairs)
        elif option == "--rw":
            rw_folders.append(next(pairs))
        elif option == "--tcp":
            tcp_ports = [*(tcp_ports or []), int(next(pairs))]
        elif option == "--no-tcp":
            tcp_ports = []
    _restrict(executable, rw_folders, tcp_ports)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    try:
        _launch(sys.argv[1:])
    except Exception as exc:  # never run ffmpeg unconfined when confinement was asked for
        print(f"ffmpeg sandbox: {exc}", file=sys.stderr)
        sys.exit(126)


# ---- the service side: detection at startup, the argv prefix per run ----------------------

import dataclasses
import logging
import shutil
import subprocess
import urllib.parse
from collections.abc import Sequence

log = logging.getLogger("recorder.media.sandbox")

MODES = ("auto", "off", "require")
THIS_FILE = os.path.abspath(__file__)


@dataclasses.dataclass(frozen=True)
class Sandbox:
    """How ffmpeg is confined on this machine (detected once; see detect())."""

    unshare: str | None = None  # `unshare --net` works (we are root)
    setpriv: str | None = None  # can drop every capability (we are root)
    landlock_abi: int = 0  # 0: no Landlock
    python: str = sys.executable

    @property
    def layers(self) -> list[str]:
        return [
            name
            for name, present in (
                ("no network", self.unshare),
                ("no capabilities", self.setpriv),
                (f"Landlock ABI {self.landlock_abi}", self.landlock_abi),
            )
            if present
        ]


def _input_urls(argv: Sequence[str]) -> list[str]:
    return [arg for arg in argv if arg.startswith(("http://", "https://"))]


def _job_folders(argv: Sequence[str]) -> list[str]:
    """The folders of the files an ffmpeg argv names (its inputs and outputs, all absolute paths
    we built): the job's folder."""
    paths = [path for arg in argv[1:] for path in _tee_outputs(arg)]
    folders = {os.path.dirname(path) for path in paths if path.startswith("/")}
    return sorted(folder for folder in folders if folder)


_TEE_OPTIONS = re.compile(r"^\[(?:[^\]\\]|\\.)*\]")
_TEE_SEPARATOR = re.compile(r"(?<!\\)\|")


def _tee_outputs(arg: str) -> list[str]:
    """The files an argument names: itself, or a tee muxer's outputs ("[options]path|...")."""
    if not arg.startswith("["):
        return [arg]
    return [_TEE_OPTIONS.sub("", part, count=1) for part in _TEE_SEPARATOR.split(arg)]


def _url_ports(urls: Sequence[str]) -> list[int]:
    ports = set()
    for url in urls:
        parsed = urllib.parse.urlsplit(url)
        ports.add(parsed.port or (443 if parsed.scheme == "https" else 80))
    return sorted(ports)


def sandbox_prefix(sandbox: Sandbox | None, argv: Sequence[str]) -> list[str]:
    """The argv prefix that confines one ffmpeg run (empty when there is no sandbox). Pure: the
    folders and ports come from the argv itself."""
    if sandbox is None:
        return []
    prefix: list[str] = []
    urls = _input_urls(argv)
    if sandbox.unshare and not urls:
        prefix += [sandbox.unshare, "--net", "--"]
    if sandbox.setpriv:
        prefix += [
            sandbox.setpriv,
            "--no-new-privs",
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--pdeathsig",
            "KILL",
            "--",
        ]
    if sandbox.landlock_abi:
        prefix += [sandbox.python, "-I", "-S", THIS_FILE, "--exec", argv[0]]
        for folder in _job_folders(argv):
            prefix += ["--rw", folder]
        if sandbox.landlock_abi >= 4:
            prefix += ["--no-tcp"] if not urls else [item for port in _url_ports(urls) for item in ("--tcp", str(port))]
        prefix += ["--"]
    return prefix


def confine(sandbox: Sandbox | None, argv: Sequence[str]) -> list[str]:
    return [*sandbox_prefix(sandbox, argv), *argv]


# ---- detection (once, at startup) ---------------------------------------------------------------
def _works(args: list[str]) -> bool:
    try:
        return subprocess.run(args, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def detect(mode: str) -> Sandbox | None:
    """What this machine can confine ffmpeg with. auto: whatever is available (logged, with what
    is missing); require: all of it or RuntimeError; off: None."""
    if mode not in MODES:
        raise ValueError(f"FFMPEG_SANDBOX must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        log.warning("FFMPEG_SANDBOX=off: ffmpeg runs with this service's network, privileges and files")
        return None
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    missing = []
    if not (root and unshare and _works([unshare, "--net", "--", "true"])):
        missing.append("network namespaces (needs root and util-linux unshare)")
        unshare = None
    if not (
        root and setpriv and _works([setpriv, "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--", "true"])
    ):
        missing.append("dropping capabilities (needs root and util-linux setpriv)")
        setpriv = None
    abi = landlock_abi()
    if abi < 1:
        missing.append("Landlock (Linux 5.13+ with landlock in the LSM list)")
    sandbox = Sandbox(unshare=unshare, setpriv=setpriv, landlock_abi=abi)
    if missing and mode == "require":
        raise RuntimeError("FFMPEG_SANDBOX=require but this machine lacks " + "; ".join(missing))
    if missing:
        log.warning("ffmpeg sandbox without %s; with %s", "; ".join(missing), ", ".join(sandbox.layers) or "nothing")
    else:
        log.info("ffmpeg sandbox: %s", ", ".join(sandbox.layers))
    return sandbox if sandbox.layers else None
