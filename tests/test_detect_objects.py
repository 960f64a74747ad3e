"""The second stage (edge/detect/classify.py) on real footage: `objects:` filters on zones and
lines let the real pedestrians of vtest through labelled `person`, keep a drawn car and dog out
of a person zone or line, and let them into a vehicle or animal zone with their label; a
camera without a filter never classifies."""
from __future__ import annotations

import pytest

from tests import scenarios as S
from tests.scenarios_objects import ALL_KINDS, object_scenarios

SCENARIOS = object_scenarios()


@pytest.mark.parametrize("truth,scn", SCENARIOS, ids=[s.name for _, s in SCENARIOS])
def test_object_filter(truth, scn, vtest_path):
    alerts = S.run(scn)
    score = S.score(scn, alerts)
    assert score.ok, score.explain(alerts)
    for a in alerts:
        assert a.details["object"] == truth, a.details


def test_labels_with_every_kind_allowed(vtest_path):
    """objects: [person, vehicle, animal]: each alert carries the label of what it really is."""
    for truth, scn in SCENARIOS:
        profile = {k: [{**r, "objects": ALL_KINDS} for r in v] for k, v in scn.profile.items()}
        alerts = S.run(S.Scenario(scn.name + "-all", profile, scn.effects, start_s=scn.start_s,
                                  duration_s=scn.duration_s))
        assert [a.details["object"] for a in alerts] == [truth] * len(alerts), (scn.name, alerts)


def test_no_filter_no_classifier(vtest_path):
    scn = next(s for s in S.catalogue() if s.name == "intrusion-lawn")
    pipe = S.CameraPipeline(S.make_profile(scn), "edge-test", snapshots=False)
    alerts = [a for f in S.frames(scn) for a in pipe.process(f)]
    assert pipe.detector.classifier is None and not pipe.detector.wants_image
    assert len(alerts) == 1 and "object" not in alerts[0].details
