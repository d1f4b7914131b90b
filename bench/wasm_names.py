#!/usr/bin/env python3
"""Names the Wasm code in a callgrind profile of wasmgate.

    wasm_names.py PROFILE COMPILED.cwasm FILTER.wasm [OUT]

Wasmtime's compiled code has no symbols valgrind can see, so callgrind shows
guest functions as bare addresses (`???:0x0000000005670000`). The compiled
module (`.cwasm`, an ELF object in the --wasm-cache-dir) has a symbol per
function (`wasm[0]::function[N]`, trampolines); this finds where its `.text`
was loaded by matching the profile's addresses against those symbols, and
rewrites the profile with `wasm:<name>` for each function, the name taken from
the `.wasm` name section (or its export section; `wasm:function[N]` when the
module has neither). Writes OUT (default PROFILE.named) for callgrind_annotate.

`BENCH_CG_KEEP=DIR bash bench/run.sh` keeps the profiles, the filters and their
compiled `.cwasm` in DIR. A module stripped of its name section (AssemblyScript
`--optimize`, Rust release builds) only gets export names: rebuild it with
names (asc `--debug`, Rust `strip = false`) and point BENCH_FILTERS_DIR at it.
"""
import collections
import re
import subprocess
import sys


def leb(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def skip_limits(b, j):
    flags, j = leb(b, j)
    _, j = leb(b, j)
    if flags & 1:
        _, j = leb(b, j)
    return j


def wasm_names(path):
    """function index -> name (name section first, then exports); number of imported functions"""
    data = open(path, "rb").read()
    names, exports, nimports = {}, {}, 0
    i = 8
    while i < len(data):
        sid = data[i]
        size, i = leb(data, i + 1)
        end = i + size
        if sid == 2:  # imports
            n, j = leb(data, i)
            for _ in range(n):
                for _ in range(2):  # module, field
                    length, j = leb(data, j)
                    j += length
                kind = data[j]
                j += 1
                if kind == 0:
                    _, j = leb(data, j)
                    nimports += 1
                elif kind == 1:
                    j = skip_limits(data, j + 1)
                elif kind == 2:
                    j = skip_limits(data, j)
                elif kind == 3:
                    j += 2
        elif sid == 7:  # exports
            n, j = leb(data, i)
            for _ in range(n):
                length, j = leb(data, j)
                name = data[j : j + length].decode("utf-8", "replace")
                j += length
                kind = data[j]
                idx, j = leb(data, j + 1)
                if kind == 0:
                    exports.setdefault(idx, name)
        elif sid == 0:  # custom: "name"
            length, j = leb(data, i)
            if data[j : j + length] == b"name":
                j += length
                while j < end:
                    sub = data[j]
                    ssize, j = leb(data, j + 1)
                    send = j + ssize
                    if sub == 1:
                        n, k = leb(data, j)
                        for _ in range(n):
                            idx, k = leb(data, k)
                            length, k = leb(data, k)
                            names[idx] = data[k : k + length].decode("utf-8", "replace")
                            k += length
                    j = send
        i = end
    for idx, name in exports.items():
        names.setdefault(idx, name)
    return names, nimports


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    prof, cwasm, wasm = sys.argv[1:4]
    out = sys.argv[4] if len(sys.argv) > 4 else prof + ".named"
    text = open(prof).read()
    addrs = {int(a, 16) for a in re.findall(r"^c?fn=\(\d+\) 0x([0-9a-f]+)$", text, re.M)}
    syms = {}
    for line in subprocess.run(["nm", cwasm], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tT":
            syms[int(parts[0], 16)] = parts[2]
    offsets = sorted(syms)
    votes = collections.Counter(a - o for a in addrs for o in offsets)
    if not votes:
        sys.exit("no unnamed functions in the profile, or no symbols in the .cwasm")
    base, hits = votes.most_common(1)[0]
    names, _ = wasm_names(wasm)

    def name_of(addr):
        s = syms.get(addr - base)
        if s is None:
            return None
        m = re.fullmatch(r"wasm\[0\]::function\[(\d+)\](?:::(.*))?", s)
        if m:  # N is the module's function index (imports first)
            if m.group(2):  # wasmtime kept the name section's name
                return "wasm:" + m.group(2)
            idx = int(m.group(1))
            return "wasm:" + names.get(idx, f"function[{idx}]")
        return "wasm:" + s

    named = 0

    def repl(m):
        nonlocal named
        n = name_of(int(m.group(2), 16))
        if n is None:
            return m.group(0)
        named += 1
        return f"{m.group(1)}{n}"

    text = re.sub(r"^(c?fn=\(\d+\) )0x([0-9a-f]+)$", repl, text, flags=re.M)
    open(out, "w").write(text)
    print(f"{out}: {named} of {len(addrs)} addresses named (text at 0x{base:x}, {hits} symbol matches)", file=sys.stderr)


if __name__ == "__main__":
    main()
