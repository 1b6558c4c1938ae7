#!/usr/bin/env python3
"""Prints pipekit / raw-baseline ratios from Google Benchmark JSON files.

    python3 bench/ratios.py build/release/bench-results/{pipe,spawn,spawn_1GiB,communicate}.json

Benchmark names follow BM_<family>/<implementation>/<parameters>, e.g.
BM_pipe_throughput/raw/cap:1MiB/chunk:64KiB. Every pipekit result is divided
by each implementation whose name starts with "raw" that has the same family
and parameters. Rates are bytes/s (or items/s); with repetitions the median
is used, and the "cv" column shows the larger coefficient of variation of
the two sides (a pair above 10% was measured while the machine was busy).
A ratio above 1 means pipekit is faster.

Standard library only.
"""

import json
import re
import sys

# Suffixes Google Benchmark appends for options set in code.
_OPTION = re.compile(r"^(min_time|iterations|repeats|real_time|manual_time|threads|process_time)(:.*)?$")

PAIR_TARGET = 0.9  # pipekit >= 0.9x the raw baseline with the same parameters
# Pairs without a target (context only): fork+exec baselines, and the small
# communicate, where starting cat dominates.
INFORMATIONAL = ("BM_communicate/pipekit/size:4KiB",)
# Pair targets other than PAIR_TARGET, by (family, baseline implementation);
# None: context only. Channels (issue 4): >= 0.8x the raw frame loop for
# 100-byte and 1 MiB messages, a round trip at most 1.2x the raw one's time.
FAMILY_TARGETS = {
    ("BM_channel_small", "raw"): 0.8,
    ("BM_channel_small", "raw_buffered"): None,
    ("BM_channel_small", "raw_sigpipe_guard"): None,
    ("BM_channel_large", "raw"): 0.8,
    ("BM_channel_large", "raw_unframed"): 0.8,
    ("BM_channel_roundtrip", "raw"): round(1 / 1.2, 3),
    ("BM_channel_roundtrip", "raw_sigpipe_guard"): None,
    ("BM_channel_batch", "raw"): None,
    ("BM_channel_crossing", "raw"): None,
    # Issue 9, item 16: >= 0.8x the count-only loop and >= 1x libuv on 64 MiB.
    # raw_poll and raw_fresh (the kept-result ceiling) are context.
    ("BM_communicate", "raw_count"): 0.8,
    ("BM_communicate", "raw_libuv"): 1.0,
    ("BM_communicate", "raw_poll"): None,
    ("BM_communicate", "raw_fresh"): None,
}

# (what, numerator, denominator, target): the other targets, plus
# context rows. Names are normalised (no option suffixes). target None:
# informational.
CHECKS = [
    ("pipekit channel_pair() 100 B vs Python multiprocessing.Pipe() send_bytes/recv_bytes",
     "BM_channel_small/pipekit/transport:socketpair/size:100", "BM_channel_small/python/transport:socketpair/size:100",
     3.0),
    ("pipekit channel_pair(false) 100 B vs Python multiprocessing.Pipe(False)",
     "BM_channel_small/pipekit/transport:pipe/size:100", "BM_channel_small/python/transport:pipe/size:100", 3.0),
    ("pipekit channel_pair() 100 B, send_batch() of 64, vs Python multiprocessing.Pipe()",
     "BM_channel_batch/pipekit/transport:socketpair/size:100/batch:64",
     "BM_channel_small/python/transport:socketpair/size:100", None),
    ("pipekit channel_pair() 1 MiB vs raw pipe throughput (1 MiB pipe, framed)",
     "BM_channel_large/pipekit/transport:socketpair/size:1MiB", "BM_channel_large/raw/transport:pipe/size:1MiB", None),
    ("pipekit channel_pair() round trip vs raw pipe ping-pong, one CPU",
     "BM_channel_roundtrip/pipekit/transport:socketpair/cpu:same/size:1",
     "BM_channel_roundtrip/raw/transport:pipe/cpu:same/size:1", None),
    ("pipekit channel_pair() round trip vs raw pipe ping-pong, free placement",
     "BM_channel_roundtrip/pipekit/transport:socketpair/cpu:free/size:1",
     "BM_channel_roundtrip/raw/transport:pipe/cpu:free/size:1", None),
    ("Python send_bytes of 2 GiB + 1 to pipekit recv vs raw socketpair",
     "BM_channel_crossing/python_sender/transport:socketpair/size:2GiB+1",
     "BM_channel_crossing/raw/transport:socketpair/size:2GiB+1", None),
    ("pipekit communicate() 64 MiB into a reused result vs count-only raw loop",
     "BM_communicate/pipekit_reused/size:64MiB", "BM_communicate/raw_count/size:64MiB", 0.8),
    ("pipekit communicate() 64 MiB, reserve_out, vs count-only raw loop",
     "BM_communicate/pipekit_reserve/size:64MiB", "BM_communicate/raw_count/size:64MiB", None),
    ("raw loop keeping 64 MiB in fresh memory vs count-only (what fresh pages cost)",
     "BM_communicate/raw_fresh/size:64MiB", "BM_communicate/raw_count/size:64MiB", None),
    ("pipekit default pipe vs raw OS-default pipe, 64 KiB chunks (lock-step trap)",
     "BM_pipe_throughput/pipekit/cap:1MiB/chunk:64KiB", "BM_pipe_throughput/raw/cap:64KiB/chunk:64KiB", None),
    ("raw 1 MiB pipe vs raw OS-default pipe, 64 KiB chunks",
     "BM_pipe_throughput/raw/cap:1MiB/chunk:64KiB", "BM_pipe_throughput/raw/cap:64KiB/chunk:64KiB", None),
    ("pipekit spawn with 1 GiB held vs without (two processes)",
     "BM_spawn_1GiB/pipekit", "BM_spawn/pipekit", 0.8),
    ("pipekit spawn with 1 GiB held vs raw posix_spawn without",
     "BM_spawn_1GiB/pipekit", "BM_spawn/raw_posix_spawn", 0.8),
    ("raw posix_spawn with 1 GiB held vs without",
     "BM_spawn_1GiB/raw_posix_spawn", "BM_spawn/raw_posix_spawn", None),
    ("raw fork+exec with 1 GiB held vs without",
     "BM_spawn_1GiB/raw_fork_exec", "BM_spawn/raw_fork_exec", None),
]


def normalise(name):
    return "/".join(p for p in name.split("/") if not _OPTION.match(p))


def rate_key(entry):
    for key in ("bytes_per_second", "items_per_second"):
        if key in entry:
            return key
    return None


def rate(entry):
    key = rate_key(entry)
    return float(entry[key]) if key else 1.0 / float(entry["real_time"])


_SIZE = re.compile(r"^(\d+)(KiB|MiB|GiB)?$")


def sort_key(file_index, name):
    """Results of one file in a stable order: parameters by size, not by spelling."""
    key = []
    for part in name.split("/")[2:]:
        value = part.split(":", 1)[-1]
        m = _SIZE.match(value)
        key.append((0, int(m.group(1)) * {None: 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[m.group(2)], "")
                   if m else (1, 0, value))
    return (file_index, name.split("/")[0], key)


class Result:
    def __init__(self, order):
        self.order = order
        self.samples = []
        self.median = None
        self.cv = None

    @property
    def value(self):
        if self.median is not None:
            return self.median
        s = sorted(self.samples)
        return s[len(s) // 2]


def load(paths):
    results, contexts = {}, []
    for file_index, path in enumerate(paths):
        with open(path) as f:
            data = json.load(f)
        ctx = data.get("context", {})
        contexts.append((path, ctx.get("date", "?"), ctx.get("load_avg", [])))
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                print(f"warning: {b['name']}: {b.get('error_message', 'error')}", file=sys.stderr)
                continue
            name = normalise(b.get("run_name", b["name"]))
            r = results.setdefault(name, Result(sort_key(file_index, name)))
            if b.get("run_type") != "aggregate":
                r.samples.append(rate(b))
            elif b.get("aggregate_name") == "median":
                r.median = rate(b)
            elif b.get("aggregate_name") == "cv":
                key = rate_key(b)
                r.cv = float(b[key]) if key else None
    return results, contexts


def fmt_rate(name, value):
    if name.startswith(("BM_spawn", "BM_channel_small", "BM_channel_batch", "BM_channel_roundtrip")):  # items/s
        return f"{value:,.0f}/s"
    if value >= 2**30:
        return f"{value / 2**30:.2f} GiB/s"
    return f"{value / 2**20:.0f} MiB/s" if value >= 100 * 2**20 else f"{value / 2**20:.2f} MiB/s"


def fmt_cv(*results):
    cvs = [r.cv for r in results if r.cv is not None]
    return f"{max(cvs):.0%}" if cvs else "-"


def verdict(ratio, target):
    if target is None:
        return ""
    return f">= {target}: met" if ratio >= target else f">= {target}: MISSED"


def row(what, num_name, num, den_name, den, target):
    ratio = num.value / den.value
    return (what, fmt_rate(num_name, num.value), fmt_rate(den_name, den.value), f"{ratio:.2f}",
            fmt_cv(num, den), verdict(ratio, target))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    results, contexts = load(argv[1:])
    rows = []
    for name, r in sorted(results.items(), key=lambda kv: kv[1].order):
        parts = name.split("/")
        if len(parts) < 2 or parts[1] != "pipekit":
            continue
        pairs = []
        for base_name, base in results.items():
            bparts = base_name.split("/")
            if len(bparts) >= 2 and bparts[0] == parts[0] and bparts[1].startswith("raw") \
                    and bparts[2:] == parts[2:]:
                informational = bparts[1].startswith("raw_fork") or name in INFORMATIONAL
                pairs.append((informational, base_name, base))
        for informational, base_name, base in sorted(pairs, key=lambda p: (p[0], p[1])):
            target = None if informational else \
                FAMILY_TARGETS.get((parts[0], base_name.split("/")[1]), PAIR_TARGET)
            rows.append(row(f"{name}  vs  {base_name.split('/')[1]}", name, r, base_name, base, target))
    for what, num, den, target in CHECKS:
        if num in results and den in results:
            rows.append(row(what, num, results[num], den, results[den], target))

    header = ("comparison", "measured", "baseline", "ratio", "cv", "target")
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print(f"\nratio = measured / baseline (rates, medians; > 1: faster than the baseline).")
    print(f"Pair target: pipekit >= {PAIR_TARGET}x raw with the same parameters, unless the row says otherwise.")
    for path, date, load_avg in contexts:
        print(f"{path}: {date}, load average at start {', '.join(f'{x:.2f}' for x in load_avg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
