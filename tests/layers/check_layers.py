#!/usr/bin/env python3
"""Checks the include directions the build promises (README, Layout).

  core       include/pipekit/*.hpp, src/ outside the folders below: includes
             none of topology, usb, redis
  topology   include/pipekit/topology/, src/topology/: core and itself
  usb        include/pipekit/usb/, src/usb/: core and itself
  redis      include/pipekit/redis/, src/redis/: core, topology and itself
  cli        cli/: any public header (pipekit/...) and its own files, never
             the library's internals
  public     include/pipekit/: public headers only, never src/ internals
  platforms  src/posix and src/linux never include src/windows, nor it them

Usage: check_layers.py SOURCE_DIR    (exit 1 and one line per violation)
       check_layers.py --self-test   (a tree with a violation of each rule
                                      must be caught; a clean one must pass)
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
PARTS = ("topology", "usb", "redis")
ALLOWED_PARTS = {"core": set(), "topology": {"topology"}, "usb": {"usb"}, "redis": {"topology", "redis"}}
INTERNAL_PREFIXES = ("sys/", "posix/", "linux/", "windows/", "topology/", "usb/", "redis/")


def part_of(rel):
    """The layer of a file, by where it lives."""
    parts = rel.split("/")
    if parts[0] == "cli":
        return "cli"
    if parts[0] == "include" and len(parts) > 3 and parts[2] in PARTS:
        return parts[2]
    if parts[0] == "src" and len(parts) > 2 and parts[1] in PARTS:
        return parts[1]
    return "core"


def included_part(target):
    """The layer an include names: pipekit/usb/x.hpp or usb/x.hpp is usb."""
    parts = target.split("/")
    if parts[0] == "pipekit" and len(parts) > 2 and parts[1] in PARTS:
        return parts[1]
    if parts[0] in PARTS and len(parts) > 1:
        return parts[0]
    return "core"


def check(root):
    problems = []
    for top in ("include", "src", "cli"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith((".hpp", ".cpp", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                layer = part_of(rel)
                for target in INCLUDE.findall(text):
                    where = f"{rel}: #include \"{target}\""
                    if layer == "cli":
                        if target.startswith(INTERNAL_PREFIXES) or target.startswith("src/"):
                            problems.append(f"{where}: the CLI uses public headers only")
                        continue
                    if rel.startswith("include/") and not target.startswith("pipekit/"):
                        problems.append(f"{where}: a public header includes only public headers")
                    wanted = included_part(target)
                    if wanted != "core" and wanted != layer and wanted not in ALLOWED_PARTS[layer]:
                        problems.append(f"{where}: {layer} may not include {wanted}")
                    if rel.startswith(("src/posix/", "src/linux/")) and target.startswith("windows/"):
                        problems.append(f"{where}: POSIX code includes Windows code")
                    if rel.startswith("src/windows/") and target.startswith(("posix/", "linux/")):
                        problems.append(f"{where}: Windows code includes POSIX code")
    return problems


def self_test():
    cases = {
        "src/stream.cpp": '#include "topology/pipeline.hpp"\n',                 # core -> topology
        "include/pipekit/stream.hpp": '#include "pipekit/usb/device.hpp"\n',   # core -> usb
        "src/usb/endpoint.cpp": '#include "pipekit/topology/pool.hpp"\n',      # usb -> topology
        "src/topology/pool.cpp": '#include "redis/stream.hpp"\n',              # topology -> redis
        "include/pipekit/process.hpp": '#include "sys/spawn.hpp"\n',           # public -> internal
        "cli/commands/run.cpp": '#include "sys/io.hpp"\n',                     # cli -> internal
        "src/posix/spawn_posix.cpp": '#include "windows/win_error.hpp"\n',     # posix -> windows
        "src/windows/io_windows.cpp": '#include "posix/syscall.hpp"\n',        # windows -> posix
    }
    allowed = {
        "src/redis/stream.cpp": '#include "pipekit/topology/pool.hpp"\n#include "topology/wire.hpp"\n',
        "src/topology/pool.cpp": '#include "pipekit/channel.hpp"\n#include "sys/channel_wire.hpp"\n',
        "cli/commands/pipe.cpp": '#include "pipekit/topology/pipeline.hpp"\n#include "common/errors.hpp"\n',
        "include/pipekit/usb/device.hpp": '#include "pipekit/stream.hpp"\n',
    }
    ok = True
    for bad, text in cases.items():
        with tempfile.TemporaryDirectory() as root:
            for rel, content in list(allowed.items()) + [(bad, text)]:
                path = os.path.join(root, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "a", encoding="utf-8") as f:
                    f.write(content)
            found = [p for p in check(root) if p.startswith(bad + ":")]
            if len(found) != 1:
                print(f"self-test: {bad} with {text.strip()!r}: expected one violation, found {found}")
                ok = False
    with tempfile.TemporaryDirectory() as root:
        for rel, content in allowed.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(content)
        if check(root):
            print(f"self-test: allowed includes reported: {check(root)}")
            ok = False
    return ok


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        return 0 if self_test() else 1
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
