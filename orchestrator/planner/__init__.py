"""The planner: desired stack + observed state + options -> `Plan`, purely.

Called by the CLI (`plan`, `up`); the executor carries the plan out. `plan.py` holds the
types (operations, options, the plan and its text/JSON forms), `decide.py` the decisions.
No I/O happens here: the CLI reads files (config documents) and `observe` reads the engine.
"""

from orchestrator.planner.decide import plan
from orchestrator.planner.down import DownOptions, plan_down
from orchestrator.planner.lifecycle import plan_lifecycle
from orchestrator.planner.plan import (CONFIG_DOC_LABEL, Operation, OpType, Plan, PlanError,
                                       PlanOptions, PullPolicy, Wait, operation_id)

__all__ = ["CONFIG_DOC_LABEL", "DownOptions", "Operation", "OpType", "Plan", "PlanError", "PlanOptions",
           "PullPolicy", "Wait", "operation_id", "plan", "plan_down", "plan_lifecycle"]
