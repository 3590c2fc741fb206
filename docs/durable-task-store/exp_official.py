"""Experiment 1: the official durabletask Python client + worker against the in-memory test
backend, with every raw RPC logged (LoggingBackend). The orchestration is shaped like the trip
workflow: custom status, an activity, two activities in parallel, then a durable wait where an
approval event races a timer; a second instance gets its event *before* it starts waiting, and a
third one is terminated while waiting. Output: exp_official.log (raw protocol) + a summary.
"""
import os
HERE = os.path.dirname(os.path.abspath(__file__))
import json
import sys
import time
from datetime import timedelta

from dtslog import start_backend, pb  # noqa: F401  (sets sys.path)

from durabletask import client as dtc
from durabletask import task
from durabletask.worker import TaskHubGrpcWorker

log = open(os.path.join(HERE, "exp_official.log"), "w")
backend, addr = start_backend(out=log)


def recommend(ctx: task.ActivityContext, inp):
    return {"dest": "Lisbon", "task_id": ctx.task_id, "orch": ctx.orchestration_id}


def plan(ctx: task.ActivityContext, inp):
    return f"planned {inp}"


def trip(ctx: task.OrchestrationContext, inp):
    ctx.set_custom_status({"step": "destinations"})
    d = yield ctx.call_activity(recommend, input=inp)
    ctx.set_custom_status({"step": "plan"})
    a = ctx.call_activity(plan, input="days")
    b = ctx.call_activity(plan, input="tips")
    results = yield task.when_all([a, b])
    ctx.set_custom_status({"step": "awaiting approval"})
    timer = ctx.create_timer(timedelta(seconds=inp.get("window", 3)))
    approval = ctx.wait_for_external_event("Approval")
    winner = yield task.when_any([timer, approval])
    if winner == approval:
        out = {"approved": approval.get_result(), "plan": results, "dest": d}
    else:
        out = {"approved": None, "expired": True}
    ctx.set_custom_status({"step": "done"})
    return out


worker = TaskHubGrpcWorker(host_address=addr)
worker.add_orchestrator(trip)
worker.add_activity(recommend)
worker.add_activity(plan)
worker.start()

c = dtc.TaskHubGrpcClient(host_address=addr)
results = {}

# A: approval raised while the orchestration waits.
iid = c.schedule_new_orchestration(trip, input={"window": 30}, instance_id="trip-A", version="4.0.0",
                                   tags={"dx.pinned": "0.1.32"})
for _ in range(100):
    st = c.get_orchestration_state(iid)
    if st and st.serialized_custom_status and "awaiting" in st.serialized_custom_status:
        break
    time.sleep(0.05)
print("A custom status while waiting:", st.serialized_custom_status, file=log)
c.raise_orchestration_event(iid, "Approval", data={"approved": True})
st = c.wait_for_orchestration_completion(iid, timeout=20)
results["A"] = (st.runtime_status.name, st.serialized_output, st.serialized_custom_status)

# B: the event is raised right after start, before the orchestration first runs.
iid = c.schedule_new_orchestration(trip, input={"window": 30}, instance_id="trip-B")
c.raise_orchestration_event(iid, "Approval", data={"approved": "early"})
st = c.wait_for_orchestration_completion(iid, timeout=20)
results["B"] = (st.runtime_status.name, st.serialized_output)

# C: nobody answers: the timer wins.
iid = c.schedule_new_orchestration(trip, input={"window": 1}, instance_id="trip-C")
st = c.wait_for_orchestration_completion(iid, timeout=20)
results["C"] = (st.runtime_status.name, st.serialized_output)

# D: terminated while waiting.
iid = c.schedule_new_orchestration(trip, input={"window": 30}, instance_id="trip-D")
for _ in range(100):
    st = c.get_orchestration_state(iid)
    if st and st.serialized_custom_status and "awaiting" in st.serialized_custom_status:
        break
    time.sleep(0.05)
c.terminate_orchestration(iid, output="operator said stop")
st = c.wait_for_orchestration_completion(iid, timeout=20)
results["D"] = (st.runtime_status.name, st.serialized_output, st.serialized_custom_status)

# History as the client sees it (StreamInstanceHistory).
hist = c.get_orchestration_history("trip-A")
results["A_history_kinds"] = [type(e).__name__ + "#" + str(getattr(e, "event_id", "?")) for e in hist]

worker.stop()
backend.stop()
print(json.dumps(results, indent=1))
print(json.dumps(results, indent=1), file=log)
