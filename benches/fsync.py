"""The disk's durability floor: what one commit mark costs, written the two ways the
log has written it, interleaved so that both see the same load.

- aside: a new 20-byte file written, fsync'd and renamed over the old one (the commit
  mark before it kept two slots rewritten in place);
- in place: 20 bytes rewritten at alternating offsets of an open 40-byte file, then
  fdatasync (what `store/src/mark.rs` does now after the first commit of an open).

Usage: python3 benches/fsync.py [DIR] (default: target/, on the disk the log uses)
Prints the 10th, 50th and 90th percentiles in microseconds.
"""

import os
import statistics
import sys
import tempfile
import time

base = sys.argv[1] if len(sys.argv) > 1 else "target"
directory = tempfile.mkdtemp(dir=base)
slots = os.open(os.path.join(directory, "slots"), os.O_CREAT | os.O_WRONLY, 0o600)
os.write(slots, b"x" * 40)
os.fsync(slots)
aside, in_place = [], []
for i in range(400):
    started = time.perf_counter()
    new = os.path.join(directory, "mark.new")
    fd = os.open(new, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.write(fd, b"y" * 20)
    os.fsync(fd)
    os.close(fd)
    os.rename(new, os.path.join(directory, "mark"))
    aside.append(time.perf_counter() - started)
    started = time.perf_counter()
    os.pwrite(slots, b"z" * 20, (i % 2) * 20)
    os.fdatasync(slots)
    in_place.append(time.perf_counter() - started)
for name, times in (("aside: write, fsync, rename", aside), ("in place: pwrite, fdatasync", in_place)):
    deciles = statistics.quantiles(times, n=10)
    print(f"{name}: p10 {deciles[0] * 1e6:.0f} us, p50 {deciles[4] * 1e6:.0f} us, p90 {deciles[8] * 1e6:.0f} us")
os.close(slots)
for name in os.listdir(directory):
    os.remove(os.path.join(directory, name))
os.rmdir(directory)
