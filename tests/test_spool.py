"""The edge spool: order, durability across a killed process, bounds that drop the oldest loudly."""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap

from edge.delivery.spool import Spool
from tests.support.services import REPO


def test_entries_come_back_in_order_and_leave_only_when_removed(tmp_path):
    spool = Spool(tmp_path / "s.db")
    seqs = [spool.put(f"t/{i}", f"payload-{i}") for i in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert [e.payload for e in spool.peek()] == [f"payload-{i}".encode() for i in range(5)]
    assert spool.remove(seqs[1]) is True
    assert spool.remove(seqs[1]) is False  # a second PUBACK for the same entry changes nothing
    assert [e.topic for e in spool.peek(after=seqs[0])] == ["t/2", "t/3", "t/4"]
    assert [e.topic for e in spool.peek(after=0, before=seqs[3])] == ["t/0", "t/2"]
    assert len(spool) == 4 and spool.size_bytes == 4 * len("payload-0")


def test_sequence_numbers_never_go_back_even_when_emptied(tmp_path):
    path = tmp_path / "s.db"
    spool = Spool(path)
    last = [spool.put("t", "x") for _ in range(3)][-1]
    for e in spool.peek():
        spool.remove(e.seq)
    spool.close()
    reopened = Spool(path)
    assert len(reopened) == 0 and reopened.last_seq() == last
    assert reopened.put("t", "y") == last + 1


def test_what_a_killed_process_spooled_is_there_after_restart(tmp_path):
    path = tmp_path / "spool.db"
    writer = textwrap.dedent(f"""
        import sys, time
        from edge.delivery.spool import Spool
        s = Spool({str(path)!r})
        for i in range(200):
            s.put("gw/alerts/e/c", "alert-%d" % i)
        print("spooled", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "spooled"
        proc.send_signal(signal.SIGKILL)  # no close(), no checkpoint: only what was committed survives
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    spool = Spool(path)
    assert [e.payload.decode() for e in spool.peek(limit=1000)] == [f"alert-{i}" for i in range(200)]


def test_size_bound_drops_the_oldest_counts_and_warns(tmp_path, caplog):
    spool = Spool(tmp_path / "s.db", max_bytes=1000)
    with caplog.at_level(logging.WARNING, logger="edge.delivery.spool"):
        for i in range(30):
            spool.put("t", f"{i:03d}".ljust(100, "."))
    kept = [int(e.payload[:3]) for e in spool.peek(limit=100)]
    assert kept == list(range(20, 30))  # the newest ten fit in 1000 bytes
    assert spool.dropped == 20 and spool.size_bytes == 1000
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_age_bound_drops_what_is_older_than_the_limit(tmp_path):
    now = [1_000_000.0]
    spool = Spool(tmp_path / "s.db", max_age_s=3600, clock=lambda: now[0])
    spool.put("t", "old-1")
    spool.put("t", "old-2")
    now[0] += 1800
    spool.put("t", "recent")
    now[0] += 1801  # the first two are now older than an hour, "recent" is not
    assert spool.enforce_bounds() == 2
    assert [e.payload for e in spool.peek()] == [b"recent"]
    assert spool.dropped == 2


def test_a_single_entry_larger_than_the_bound_is_kept_rather_than_lost_silently(tmp_path):
    spool = Spool(tmp_path / "s.db", max_bytes=10)
    spool.put("t", "x" * 50)
    assert len(spool) == 1 and spool.dropped == 0
    spool.put("t", "y" * 50)  # now the older one goes
    assert [e.payload for e in spool.peek()] == [b"y" * 50] and spool.dropped == 1
