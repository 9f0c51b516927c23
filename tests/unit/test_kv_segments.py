"""The journal's mapped segments (crm_core/kv/segments.py): a record counts only with its
segment's generation and a matching CRC, so a torn last record and the leftovers of earlier
generations in a reused file are never read back; a folded segment is not replayed."""
from __future__ import annotations

from crm_core.kv.segments import _REC, Segment, open_pair


def test_records_come_back_in_order_across_a_reopen(tmp_path):  # noqa: ANN001
    seg = Segment(tmp_path / "s", 4096)
    assert (seg.gen, seg.folded, seg.records()) == (0, True, [])   # new: nothing counts
    seg.activate(7)
    assert seg.append(b'["m:1","q","{}"]') and seg.append("值".encode())
    seg.close()
    again = Segment(tmp_path / "s", 4096)
    assert (again.gen, again.folded) == (7, False)
    assert again.records() == [b'["m:1","q","{}"]', "值".encode()]
    again.mark_folded()
    again.close()
    assert Segment(tmp_path / "s", 4096).records() == []


def test_a_torn_record_and_older_generations_are_not_read(tmp_path):  # noqa: ANN001
    seg = Segment(tmp_path / "s", 4096)
    seg.activate(1)
    for n in range(20):                                   # a long first generation
        assert seg.append(f'["old{n}"]'.encode())
    seg.activate(2)                                       # reused: the old records stay behind
    assert seg.append(b'["new0"]') and seg.append(b'["new1"]')
    assert seg.records() == [b'["new0"]', b'["new1"]']
    # a third record whose payload was only half copied when the process died
    at = seg.end
    assert seg.append(b'["new2-complete"]')
    seg._map[at + _REC.size + 8:at + _REC.size + 16] = b"\0" * 8
    assert seg.records() == [b'["new0"]', b'["new1"]']


def test_a_full_segment_refuses_and_can_grow_while_folded(tmp_path):  # noqa: ANN001
    seg = Segment(tmp_path / "s", 4096)
    seg.activate(1)
    big = b"x" * 3000
    assert seg.append(big) and not seg.append(big)
    seg.mark_folded()
    seg.make_room(10_000)
    seg.activate(2)
    assert seg.append(b"y" * 10_000) and seg.records() == [b"y" * 10_000]


def test_the_pair_lives_next_to_the_journal(tmp_path):  # noqa: ANN001
    a, b = open_pair(tmp_path / "kv.sqlite3", 4096)
    assert (a.path.name, b.path.name) == ("kv.sqlite3-seg0", "kv.sqlite3-seg1")
    assert a.path.stat().st_size == 4096
