"""`python -m edge analyze --profile P.yaml --source VIDEO --jsonl OUT.jsonl`: analyse a
recorded video as fast as it can (not real time), one JSON alert per line, progress on a
terminal, a summary table of alerts per type and the analysis speed at the end."""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from camera_profiles import ProfileError, load_profile
from common.times import parse_iso
from edge.camera.filesource import VideoOpenError, frame_count, iter_file_frames
from edge.camera.pipeline import CameraPipeline


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", required=True, help="camera profile YAML (zones, lines, rules)")
    p.add_argument("--source", help="video file (default: the profile's source, when it is a file)")
    p.add_argument("--jsonl", help="write alerts here, one JSON per line (default: stdout)")
    p.add_argument("--start", help="UTC time of the file's first frame, ISO 8601 (default: the file's mtime)")
    p.add_argument("--edge-id", default="analyze", help="edge_id written into the alerts")
    p.add_argument("--fps", type=float, help="analysis fps (default: the profile's detect.fps)")
    p.add_argument("--no-snapshots", action="store_true", help="leave out the JPEG snapshots")


def _parse_start(text: str | None) -> datetime | None:
    if not text:
        return None
    return parse_iso(text)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    try:
        profile = load_profile(args.profile, source=args.source)
    except ProfileError as e:
        return _fail(f"{e}")
    source = args.source or (profile.source if isinstance(profile.source, str) else None)
    if not source or "://" in source:
        return _fail("--source: give a video file (the profile's source is not a file)")
    try:
        start = _parse_start(args.start)
    except ValueError as e:
        return _fail(f"--start: not an ISO 8601 time: {e}")
    fps = args.fps or profile.detect.fps
    frames = iter_file_frames(source, fps, start)
    try:
        first = next(frames, None)  # opens the file: refuse a bad one before writing anything
    except VideoOpenError as e:
        return _fail(f"{e}")
    pipe = CameraPipeline(profile, args.edge_id, snapshots=not args.no_snapshots)
    try:
        out = open(args.jsonl, "w", encoding="utf-8") if args.jsonl else sys.stdout
    except OSError as e:
        return _fail(f"--jsonl: cannot write {args.jsonl}: {e.strerror}")
    counts: Counter[str] = Counter()
    total = frame_count(source)
    analysed, last_index, busy = 0, -1, 0.0
    t0 = time.perf_counter()
    try:
        with Progress(TextColumn("[bold]analysing[/] {task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} frames"), TextColumn("{task.fields[alerts]} alerts"),
                      TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task(Path(source).name, total=total, alerts=0)
            for frame in itertools.chain([first] if first else [], frames):
                a = time.perf_counter()
                alerts = pipe.process(frame)
                busy += time.perf_counter() - a
                for alert in alerts:
                    out.write(alert.to_json() + "\n")
                    counts[alert.type.value] += 1
                analysed += 1
                last_index = frame.index
                progress.update(task, completed=frame.index + 1, alerts=sum(counts.values()))
    finally:
        if out is not sys.stdout:
            out.close()
    wall = time.perf_counter() - t0
    # the summary goes to stdout unless the alerts themselves do
    _summary(Console() if args.jsonl else err, source, counts, analysed, max(total or 0, last_index + 1), wall, busy, pipe)
    return 0


def _summary(con: Console, source: str, counts: Counter, analysed: int, read: int, wall: float, busy: float,
             pipe: CameraPipeline) -> None:
    table = Table(title=f"alerts in {Path(source).name}")
    table.add_column("type")
    table.add_column("alerts", justify="right")
    for kind, n in sorted(counts.items()):
        table.add_row(kind, str(n))
    table.add_row("[bold]total", f"[bold]{sum(counts.values())}")
    con.print(table)
    speed = Table(title="speed")
    speed.add_column("measure")
    speed.add_column("value", justify="right")
    speed.add_row("frames read / analysed", f"{read} / {analysed}")
    speed.add_row("wall time", f"{wall:.2f} s")
    speed.add_row("frames read per second (decode + analysis)", f"{read / wall:.1f}" if wall else "-")
    speed.add_row("analysis per analysed frame", f"{1000 * busy / analysed:.2f} ms" if analysed else "-")
    if pipe.errors:
        speed.add_row("bad frames refused", f"{pipe.errors} ({pipe.last_error})")
    con.print(speed)
