"""Wall time and peak RSS of one command, measured so that the peak is the command's own.

Linux carries the peak RSS of the process a command was forked from across `exec`, so a command
started straight from a Python process holding a million generated rows would report at least the
Python process's size. Commands are started through GNU time, a small process, which reports the
command's own peak.
"""
import subprocess
import sys
import tempfile
import time


def measured(cmd, env=None, stdout=subprocess.PIPE):
    """(wall seconds, peak RSS in MB, stdout bytes or None) of `cmd`; exits if it fails."""
    with tempfile.NamedTemporaryFile("r") as peak:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak.name, *cmd], env=env, stdout=stdout)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode})")
        return elapsed, int(peak.read().split()[-1]) / 1024, proc.stdout
