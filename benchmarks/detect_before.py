"""The 1080p target figure of the detector as it was before issue 16 (commit BEFORE), timed by
today's harness (bench_detect.target) on the same clip in the same run.

Why: analysis / decode is a ratio of two different kinds of work (Python and OpenCV on a small
grey frame against FFmpeg's SIMD decoder), so it moves with the machine class and the clip: this
detector read 0.141 on 1440x1080 on the machine of 2026-11-21 (the issue's "today 0.14"), 0.23-0.24
on the same clip on today's, 0.136-0.138 on 1920x1080. "Kept" is then asked of the same machine
and clip: today's detector against this one. Its packages come out of git (`git archive`)
into a temporary folder that a child process puts first on its path; no git or no such
commit (a shallow clone): the figure is left out, with the reason.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

BEFORE = "3c26863"   # the last commit before issue 16's detector work
PACKAGES = ("alerts", "camera_profiles", "common", "edge")
REPO = Path(__file__).resolve().parents[1]


def measure(height: int, width: int | None = None) -> tuple[dict | None, str]:
    """(the target figure of the detector at BEFORE, or None; why not)."""
    try:
        tar = subprocess.run(["git", "-C", str(REPO), "archive", BEFORE, *PACKAGES], capture_output=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"no commit {BEFORE} here ({type(e).__name__})"
    with tempfile.TemporaryDirectory(prefix="gw-before-") as tmp:
        with tarfile.open(fileobj=BytesIO(tar)) as t:
            t.extractall(tmp, filter="data")
        # the old packages first, then today's benchmarks (the harness): only those come from REPO
        code = (f"import sys; sys.path[:0] = [{tmp!r}, {str(REPO)!r}]; "
                f"from benchmarks.detect_before import child; child({height}, {width})")
        run = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True, timeout=600)
        if run.returncode:
            return None, f"the detector at {BEFORE} failed: {run.stderr.strip().splitlines()[-1:]}"
        return json.loads(run.stdout.strip().splitlines()[-1]), ""


def child(height: int, width: int | None) -> None:
    import edge
    from benchmarks.bench_detect import clip, target

    assert str(Path(edge.__file__).parents[1]) != str(REPO), "today's edge was imported, not the old one"
    print(json.dumps(target(clip(height, width))))
