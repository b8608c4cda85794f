"""The in-memory reference planning (both listings held, the state cache as a dict), which the streaming planner
(run/planning.py) is compared with: the property test checks the two give the same plans, and
`bench/plan_scale.py` measures both. Settles a `build_plan` plan from the state cache held as a dict.
"""

from __future__ import annotations

from gcs2s3.core.models import Kind, Plan
from gcs2s3.core.plan import needs_confirming, resolve
from gcs2s3.run.state import StateCache


def settled_in_memory(plan: Plan, cache: StateCache) -> Plan:
    """`plan` (a list) with every action the cache vouches for settled, as a run settled it then
    (without the HEADs of what the cache cannot settle)."""
    assert isinstance(plan.actions, list)
    for index, action in enumerate(plan.actions):
        if needs_confirming(action) and action.existing is not None:
            vouched = cache.vouch(action.existing)
            settled = resolve(action, vouched) if vouched else None
            if settled and settled.kind in (Kind.UNCHANGED, Kind.HEADERS):
                plan.actions[index] = settled
    return plan
