"""executions/fairness.py: who gets the free places, without a database."""

from datetime import UTC, datetime, timedelta

from executions.fairness import Lane, Waiting, class_ranks, pick

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RANK = class_ranks([["scheduled", "manual"], ["webhook"]])
_ids = iter(range(1, 1_000_000))


def _lane(tenant, trigger, kinds, **options) -> Lane:
    waiting = [Waiting(next(_ids), kind, T0 + timedelta(seconds=i)) for i, kind in enumerate(kinds)]
    return Lane(tenant, trigger, waiting, **options)


def _pick(lanes, places, tenants=None, triggers=None, **options):
    picked = pick(
        lanes,
        places=places,
        in_flight_by_tenant=tenants or {},
        in_flight_by_trigger=triggers or {},
        rank=RANK,
        **options,
    )
    owner = {w.id: lane.trigger_id for lane in lanes for w in lane.waiting}
    return [owner[w.id] for w in picked]


def test_it_alternates_between_tenants():
    lanes = [_lane("a", 1, ["webhook"] * 10), _lane("b", 2, ["webhook"] * 10)]

    assert _pick(lanes, 4) == [1, 2, 1, 2]


def test_a_tenant_with_fewer_in_flight_goes_first():
    lanes = [_lane("a", 1, ["webhook"] * 10), _lane("b", 2, ["webhook"] * 3)]

    assert _pick(lanes, 4, tenants={"a": 5}, triggers={1: 5}) == [2, 2, 2, 1]


def test_the_better_class_goes_first_whatever_the_tenant():
    lanes = [_lane("a", 1, ["webhook"]), _lane("b", 2, ["scheduled"])]

    assert _pick(lanes, 2, tenants={"b": 9}) == [2, 1]


def test_a_type_in_no_class_comes_last():
    assert RANK("polling") == 2 > RANK("webhook") == 1 > RANK("manual") == 0


def test_limits_pass_a_lane_or_a_tenant_over():
    lanes = [_lane("a", 1, ["webhook"] * 5, limit=2), _lane("a", 3, ["webhook"] * 5)]
    lanes.append(_lane("b", 2, ["webhook"] * 5))

    assert sorted(_pick(lanes, 10, tenant_limit=3)) == [1, 1, 2, 2, 2, 3]


def test_a_buffer_one_slot_waits_while_its_trigger_has_one_in_flight():
    lanes = [_lane("a", 1, ["scheduled"], buffer_one=True), _lane("a", 2, ["scheduled"])]

    assert _pick(lanes, 2, triggers={1: 1}) == [2]
    assert _pick([_lane("a", 1, ["scheduled"] * 2, buffer_one=True)], 2) == [1]


def test_a_backfills_slots_are_served_in_their_own_class_after_events():
    rank = class_ranks([["scheduled", "manual"], ["webhook"], ["backfill"]])
    backfill = Lane("a", 1, [Waiting(next(_ids), "scheduled", T0, is_backfill=True)])
    lanes = [backfill, _lane("b", 2, ["webhook"]), _lane("b", 3, ["scheduled"])]
    owner = {w.id: lane.trigger_id for lane in lanes for w in lane.waiting}

    picked = pick(lanes, places=3, in_flight_by_tenant={"b": 9}, in_flight_by_trigger={}, rank=rank)

    assert [owner[w.id] for w in picked] == [3, 2, 1]


def test_a_backfilled_slot_run_in_turn_waits_while_its_trigger_has_one_in_flight():
    def lane():
        waiting = [
            Waiting(next(_ids), "scheduled", T0, is_backfill=True, waits_for_running=True)
            for _ in range(3)
        ]
        return Lane("a", 1, waiting)

    assert _pick([lane()], 3) == [1]
    assert _pick([lane()], 3, triggers={1: 1}) == []


def test_many_lanes_are_cheap_and_all_served():
    lanes = [_lane("a", trigger, ["scheduled"]) for trigger in range(5000)]

    assert sorted(_pick(lanes, 5000)) == list(range(5000))
