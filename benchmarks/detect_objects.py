"""The second stage's precision and cost (edge/detect/classify.py), called by bench_detect:
- labels on the labelled object scenarios (tests/scenarios_objects.py) with every kind allowed:
  each alert's `details.object` against what the object really is;
- the real pedestrians of vtest's walkway over 60 s (a zone with no cooldown: one alert per
  person episode), every kind allowed: how many are labelled person, how many something else,
  and how many alerts the zone raises without a filter (what waiting for a label costs);
- CPU per label call against CPU per analysed frame of the same run (the call happens only
  when a filtered rule is about to fire, at most every 0.5 s per waiting track).
"""
from __future__ import annotations

import time
from collections import Counter

from rich.table import Table


def table() -> Table:
    import edge.detect.engine as engine
    from edge.camera.pipeline import CameraPipeline
    from tests import scenarios as S
    from tests.scenarios_objects import ALL_KINDS, WALKWAY, object_scenarios

    calls = {"n": 0, "cpu": 0.0}
    original = engine.Detector.label

    def timed(self, tr, t):  # type: ignore[no-untyped-def]
        a = time.process_time()
        try:
            return original(self, tr, t)
        finally:
            calls["n"] += 1
            calls["cpu"] += time.process_time() - a

    engine.Detector.label = timed  # type: ignore[method-assign]
    try:
        got: Counter = Counter()
        for truth, scn in object_scenarios():
            prof = {k: [{**r, "objects": ALL_KINDS} for r in v] for k, v in scn.profile.items()}
            for a in S.run(S.Scenario(scn.name, prof, scn.effects, start_s=scn.start_s, duration_s=scn.duration_s)):
                got[truth, a.details.get("object")] += 1
        walk = S.Scenario("walkway-60s", {"zones": [{"name": "walk", "polygon": WALKWAY, "objects": ALL_KINDS,
                                                      "intrusion": {"min_seconds": 1.0, "cooldown_s": 0}}]},
                          duration_s=60.0)
        pipe = CameraPipeline(S.make_profile(walk), "bench", snapshots=False)
        frames_cpu, n_frames, walk_labels = 0.0, 0, Counter()
        for f in S.frames(walk):
            a0 = time.process_time()
            alerts = pipe.process(f)
            frames_cpu += time.process_time() - a0
            n_frames += 1
            walk_labels.update(al.details.get("object") for al in alerts)
    finally:
        engine.Detector.label = original  # type: ignore[method-assign]
    bare = S.Scenario("walkway-60s-no-filter", {"zones": [{"name": "walk", "polygon": WALKWAY,
                                                           "intrusion": {"min_seconds": 1.0, "cooldown_s": 0}}]},
                      duration_s=60.0)
    unfiltered = len(S.run(bare))
    t = Table(title="second stage (objects: filter): labels against the truth, real footage")
    for col in ("set", "truth", "alerts", "labelled right", "labels given"):
        t.add_column(col, justify="left" if col in ("set", "truth") else "right")
    for truth in ("person", "vehicle", "animal"):
        n = sum(v for (tr, _), v in got.items() if tr == truth)
        t.add_row("object scenarios", truth, str(n), str(got[truth, truth]),
                  ", ".join(f"{k}: {v}" for (tr, k), v in sorted(got.items(), key=str) if tr == truth))
    n = sum(walk_labels.values())
    t.add_row("vtest walkway 60 s", "person", f"{n} (no filter: {unfiltered})", str(walk_labels["person"]),
              ", ".join(f"{k}: {v}" for k, v in sorted(walk_labels.items(), key=str)))
    right = sum(v for (tr, k), v in got.items() if tr == k) + walk_labels["person"]
    labelled = sum(v for (_, k), v in got.items() if k != "unknown") + n - walk_labels["unknown"]
    per_call = calls["cpu"] / max(calls["n"], 1)
    t.caption = (f"precision {right}/{labelled} = {right / max(labelled, 1):.2f} (of labels other than unknown); "
                 f"{calls['n']} label calls, {1000 * per_call:.2f} ms CPU each = "
                 f"{per_call / (frames_cpu / n_frames):.1f}x an analysed 768x576 frame")
    return t
