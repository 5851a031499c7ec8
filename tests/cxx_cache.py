"""A ``g++`` that reuses the output of an identical earlier compile (tests only).

conftest.py puts a ``g++`` running this script first on ``PATH`` for the test session: the
pipeline compiles the same C++ several times (verify, then the edge inputs, then the CLI
verb on the same project; hls4ml writes a fresh copy for each), each 20-60 s. A compile is
keyed like ccache's preprocessor mode: the compiler's identity, the flags (``-I``/``-D``
only through their effect on the preprocessed text), the preprocessed text (``-E -P``) of
every source and the bytes of every object. A hit copies the stored output; anything else
(no ``-o``, dependency files, stdin, ``-fsyntax-only``, ...) runs the real compiler. hls4ml's
C-simulation reads its weights at run time from ``WEIGHTS_DIR``, a path compiled in: that
path is replaced by a copy of the weights in the store, named by their content.
``NANOTRIG_TEST_CXX`` names the real compiler, ``NANOTRIG_TEST_CXX_CACHE`` the store.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCES = (".cpp", ".cc", ".cxx", ".c")
#: Flags whose value is the next argument.
WITH_VALUE = {"-D", "-I", "-o", "-include", "-isystem"}
#: Flags that write something besides ``-o`` or read stdin: never cached.
UNCACHED = ("-M", "-E", "-S", "-fsyntax-only", "-x", "@", "-save-temps")


def _parse(args: list[str]) -> tuple[list[str], list[str], list[str], str | None] | None:
    """``(flags, sources, objects, output)`` of a cacheable command, else ``None``."""
    flags: list[str] = []
    sources: list[str] = []
    objects: list[str] = []
    output = None
    it = iter(args)
    for a in it:
        if a in WITH_VALUE:
            value = next(it, None)
            if value is None:
                return None
            if a == "-o":
                output = value
            else:
                flags += [a, value]
        elif a == "-" or a.startswith(UNCACHED):
            return None
        elif a.startswith("-"):
            flags.append(a)
        elif a.endswith(SOURCES):
            sources.append(a)
        elif a.endswith((".o", ".a")):
            objects.append(a)
        else:
            return None
    if output is None or not (sources or objects):
        return None
    return flags, sources, objects, output


def _key(cxx: str, flags: list[str], sources: list[str], objects: list[str]) -> str | None:
    """The cache key, or ``None`` when a source does not preprocess."""
    h = hashlib.sha256(os.environ.get("NANOTRIG_TEST_CXX_ID", cxx).encode())
    pre = [f for f in flags if f not in ("-c", "-shared")]
    it = iter(flags)
    for a in it:  # -I/-D act through the preprocessed text; their paths would defeat the cache
        if a in ("-D", "-I", "-include", "-isystem"):
            next(it)
        elif not a.startswith(("-D", "-I")):
            h.update(b"\0flag:" + a.encode())
    for src in sources:
        done = subprocess.run([cxx, *pre, "-E", "-P", src], capture_output=True, check=False)
        if done.returncode != 0:
            return None
        h.update(b"\0src:" + hashlib.sha256(done.stdout).digest())
    for obj in objects:
        h.update(b"\0obj:" + hashlib.sha256(Path(obj).read_bytes()).digest())
    return h.hexdigest()


def _log(what: str, key: str, args: list[str]) -> None:
    """One line per cacheable compile in ``NANOTRIG_TEST_CXX_LOG`` when it is set."""
    log = os.environ.get("NANOTRIG_TEST_CXX_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{what} {key[:12]} {os.getcwd()} {' '.join(args)}\n")


def _stable_weights(args: list[str], store: Path) -> list[str]:
    """``args`` with hls4ml's ``-D WEIGHTS_DIR="<project>/firmware/weights"`` (read when the
    library first runs, so baked into it) pointing at a copy in the store named by the
    weights' content: equal weights then compile to the same library wherever the project is."""
    out = list(args)
    for i, a in enumerate(args[:-1]):
        if a == "-D" and args[i + 1].startswith("WEIGHTS_DIR="):
            src = Path(args[i + 1].split("=", 1)[1].strip('"'))
            if not src.is_dir():
                return args
            h = hashlib.sha256()
            for f in sorted(p for p in src.rglob("*") if p.is_file()):
                h.update(f"\0{f.relative_to(src)}\0".encode() + f.read_bytes())
            stable = store / f"weights-{h.hexdigest()}"
            if not stable.is_dir():
                tmp = store / f"weights-{h.hexdigest()}.{os.getpid()}.tmp"
                shutil.copytree(src, tmp)
                try:
                    os.replace(tmp, stable)
                except OSError:  # another compile stored the same weights first
                    shutil.rmtree(tmp, ignore_errors=True)
            out[i + 1] = f'WEIGHTS_DIR="{stable}"'
    return out


def main(args: list[str]) -> int:
    cxx = os.environ["NANOTRIG_TEST_CXX"]
    store = os.environ.get("NANOTRIG_TEST_CXX_CACHE")
    if store:
        args = _stable_weights(args, Path(store))
    parsed = _parse(args) if store else None
    key = _key(cxx, *parsed[:3]) if parsed else None
    if key is None:
        return subprocess.run([cxx, *args], check=False).returncode
    output = Path(parsed[3])
    hit = Path(store) / key
    _log("hit" if hit.is_file() else "miss", key, args)
    if hit.is_file():
        shutil.copy2(hit, output)
        return 0
    rc = subprocess.run([cxx, *args], check=False).returncode
    if rc == 0 and output.is_file():
        tmp = hit.with_name(f"{key}.{os.getpid()}.tmp")
        shutil.copy2(output, tmp)
        os.replace(tmp, hit)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
