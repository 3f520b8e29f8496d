#!/usr/bin/env python3
"""Derives the rtcd exclude list of the WebAssembly SIMD build of libaom.

libaom's x86 SIMD comes in two kinds: C intrinsics (compiled to WebAssembly SIMD through
emscripten's SSE headers) and NASM assembly (which cannot be). aom's rtcd.pl chooses, for every
DSP function, the best x86 version available at build time; it must not choose one that is
assembly only, nor an intrinsics version that calls an assembly helper, directly or through other
functions. This script finds them in an aom build tree configured with an empty exclude list
whose intrinsics objects (the CMake targets *_intrinsics) are compiled:

  missing    every function with an x86 suffix (_sse2, _ssse3, ...) that no intrinsics object
             defines: the assembly, not built;
  broken     every function whose code refers, directly or through other functions, to a missing
             one (the relocations of each function's code, from llvm-objdump -d -r);
  candidates every x86 specialization rtcd.pl declares (the prototypes in config/*_rtcd.h).

It prints the candidates that are missing (never defined) or broken, sorted, one per line: the file rtcd.pl reads
with --exclude. The link of the final module (emcc with ERROR_ON_UNDEFINED_SYMBOLS=1, which reports
an undefined function reachable from the entry points) checks that nothing reachable is left out.

Usage: derive-exclude.py <llvm-objdump> <aom build dir>
"""

import glob
import os
import re
import subprocess
import sys

ISAS = ("mmx", "sse", "sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2")


def main(objdump: str, build: str) -> None:
    objects = sorted(glob.glob(os.path.join(build, "CMakeFiles", "*_intrinsics.dir", "**", "*.o"), recursive=True))
    if not objects:
        sys.exit(f"no intrinsics objects under {build}/CMakeFiles: build the *_intrinsics targets first")
    defined: set[str] = set()
    edges: dict[str, set[str]] = {}
    for obj in objects:
        listing = subprocess.run([objdump, "-d", "-r", obj], check=True, capture_output=True, text=True).stdout
        current = None
        for line in listing.splitlines():
            function = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
            if function:
                current = None if function.group(1) == "CODE" else function.group(1)
                if current:
                    defined.add(current)
                    edges.setdefault(current, set())
                continue
            reloc = re.search(r"R_WASM_\w+\s+([^\s+]+)", line)
            if reloc and current:
                edges[current].add(reloc.group(1))
    suffix = re.compile(rf"_(?:{'|'.join(ISAS)})$")
    referenced = set().union(*edges.values())
    missing = {name for name in referenced - defined if suffix.search(name)}

    broken = set(missing)
    changed = True
    while changed:
        changed = False
        for function, targets in edges.items():
            if function not in broken and targets & broken:
                broken.add(function)
                changed = True

    candidates: set[str] = set()
    isa = "|".join(ISAS)
    for header in sorted(glob.glob(os.path.join(build, "config", "*_rtcd.h"))):
        with open(header, encoding="utf-8") as file:
            for line in file:
                prototype = re.match(rf"^[\w\s\*]+?\b(\w+_(?:{isa}))\(", line)
                if prototype:
                    candidates.add(prototype.group(1))
    if not candidates:
        sys.exit("no x86 specializations found in the rtcd headers")
    # Specializations no intrinsics object defines are assembly only.
    for name in sorted((candidates - defined) | (candidates & broken)):
        print(name)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
