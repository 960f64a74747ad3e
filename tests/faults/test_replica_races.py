"""Two replicas receiving alerts of the same new source at the same instant (a shared
subscription makes this the normal case): both alerts must be stored and counted on one
incident, neither may end up in the dead-letter table. Real PostgreSQL, real concurrent
transactions; the two "replicas" are two services with their own connection pools."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from sqlalchemy import func, select

from gateway.db import Database
from gateway.db.grids import import_grids
from gateway.db.models import AlertRow, Incident, Sensor
from gateway.incidents.service import IncidentService
from tests.faults.harness import GRID, GRIDS
from tests.support.alert_stream import stream_alert

ROUNDS = 15


def test_simultaneous_first_alerts_of_a_new_sensor_on_two_replicas(fault_db, tmp_path):
    db = Database(fault_db)
    with db.session() as s:
        import_grids(s, json.loads(GRIDS.read_text()), datetime.now(UTC))
    replicas = [IncidentService(Database(fault_db), media_dir=tmp_path / f"m{i}") for i in range(2)]
    errors: list[str] = []
    for r in range(ROUNDS):
        edge = f"edge-race{r}"
        alerts = [stream_alert(edge, i, repeat=2, grid=GRID) for i in range(2)]  # one source, two alerts
        barrier = threading.Barrier(2)

        def ingest(svc, alert, barrier=barrier):
            barrier.wait(10)
            try:
                svc.ingest(alert)
            except Exception as e:  # the ingest would turn this into a dead letter: a lost alert
                errors.append(f"{alert.id}: {type(e).__name__}: {str(e).splitlines()[0]}")

        threads = [threading.Thread(target=ingest, args=(svc, a)) for svc, a in zip(replicas, alerts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, f"{len(errors)} of {2 * ROUNDS} alerts failed under the race, e.g. {errors[:3]}"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 2 * ROUNDS
        assert s.scalar(select(func.count()).select_from(Sensor)) == ROUNDS
        counts = list(s.scalars(select(Incident.alert_count)))
    assert counts == [2] * ROUNDS
    for svc in replicas:
        svc.db.dispose()
    db.dispose()
