"""Experiment 3: the proposed duroxide-provider design, prototyped in Python against the real
in-memory test backend, to check that it round-trips a duroxide history *exactly*.

* `DtsProviderShim` is the provider: a background GetWorkItems stream reader feeding local queues;
  `fetch_orchestration_item` rebuilds duroxide's history from the journal carried in
  `TaskScheduled("__dx_journal").input` events of pastEvents and turns newEvents into duroxide
  WorkItems; `ack_orchestration_item` turns the turn's worker/orchestrator items into native
  actions (ScheduleTask / CreateTimer / ...), appends the journal action, re-sends the custom
  status, and defers the native completion to the follow-up (swallowed) dispatch.
* `trip_turn` stands in for duroxide's replay engine + the trip workflow (revision 4 shape:
  progress reports, one activity, two in parallel, a save, then `select2(timer,
  dequeue_event("Approval"))`, then book or expire). It produces duroxide-shaped events (serde
  JSON of `duroxide::Event`: event_id, source_event_id, execution_id, timestamp_ms,
  duroxide_version, type + fields).
* The client side maps duroxide Client calls the way the provider's `enqueue_for_orchestrator`
  would: StartOrchestration -> StartInstance, QueueMessage -> RaiseEvent("dxq:<name>"),
  CancelInstance -> TerminateInstance.

Checks: the history read back through StreamInstanceHistory equals, event for event, every delta
that was acked; native state (status, output, custom status) agrees; counts of extra dispatches.
"""
import os
HERE = os.path.dirname(os.path.abspath(__file__))
import json
import queue
import threading
import time

import dtslog  # noqa: F401
import grpc
from google.protobuf import empty_pb2, wrappers_pb2

from dtslog import start_backend, pb, stubs

JOURNAL = "__dx_journal"
JOURNAL_BASE = 1_500_000_000          # journal action ids: JOURNAL_BASE + turn number (int32 range)
QUEUE_PREFIX = "dxq:"                 # duroxide enqueue_event / dequeue_event queues
DX_VERSION = "0.1.32"
LOG = open(os.path.join(HERE, "exp_journal_provider.log"), "w")
be, ADDR = start_backend(out=LOG)


def sv(s):
    return wrappers_pb2.StringValue(value=s)


def now_ms():
    return int(time.time() * 1000)


# ----------------------------------------------------------------------------------- provider
class DtsProviderShim:
    def __init__(self, addr, metadata=()):
        self.md = list(metadata)
        self.ch = grpc.insecure_channel(addr)
        self.stub = stubs.TaskHubSidecarServiceStub(self.ch)
        self.stub.Hello(empty_pb2.Empty(), metadata=self.md)
        self.orch_q, self.act_q = queue.Queue(), queue.Queue()
        self.locks = {}          # lock_token -> (instance, completionToken, history)
        self.attempts = {}       # (instance, completionToken) -> fetch count (local only!)
        self.stats = {"dispatches": 0, "swallowed": 0, "deferred_completions": 0, "journal_activities": 0}
        self.stream = self.stub.GetWorkItems(pb.GetWorkItemsRequest(
            maxConcurrentOrchestrationWorkItems=2, maxConcurrentActivityWorkItems=8), metadata=self.md)
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):                       # the background stream reader
        try:
            for wi in self.stream:
                if wi.HasField("orchestratorRequest"):
                    self.orch_q.put(wi)
                elif wi.HasField("activityRequest"):
                    self.act_q.put(wi)
        except grpc.RpcError:
            pass

    # -- history reconstruction
    @staticmethod
    def journal_of(events):
        hist = []
        for e in events:
            if e.HasField("taskScheduled") and e.taskScheduled.name == JOURNAL:
                hist.extend(json.loads(e.taskScheduled.input.value))
        return hist

    def to_work_items(self, iid, execution_id, new_events):
        items = []
        for e in new_events:
            k = e.WhichOneof("eventType")
            if k == "executionStarted":
                es = e.executionStarted
                items.append({"StartOrchestration": {"instance": iid, "orchestration": es.name, "input": es.input.value,
                              "version": es.version.value if es.HasField("version") else None, "execution_id": 1}})
            elif k == "taskCompleted":
                if e.taskCompleted.taskScheduledId >= JOURNAL_BASE:
                    continue                                   # our own journal activity
                items.append({"ActivityCompleted": {"instance": iid, "execution_id": execution_id,
                              "id": e.taskCompleted.taskScheduledId, "result": e.taskCompleted.result.value}})
            elif k == "taskFailed":
                fd = e.taskFailed.failureDetails
                items.append({"ActivityFailed": {"instance": iid, "execution_id": execution_id, "id": e.taskFailed.taskScheduledId,
                              "details": {"Application": {"kind": fd.errorType, "message": fd.errorMessage,
                                                          "retryable": not fd.isNonRetriable}}}})
            elif k == "timerFired":
                items.append({"TimerFired": {"instance": iid, "execution_id": execution_id, "id": e.timerFired.timerId,
                              "fire_at_ms": e.timerFired.fireAt.ToMilliseconds()}})
            elif k == "eventRaised":
                n, d = e.eventRaised.name, e.eventRaised.input.value
                if n.startswith(QUEUE_PREFIX):
                    items.append({"QueueMessage": {"instance": iid, "name": n[len(QUEUE_PREFIX):], "data": d}})
                else:
                    items.append({"ExternalRaised": {"instance": iid, "name": n, "data": d}})
            elif k == "executionTerminated":
                items.append({"CancelInstance": {"instance": iid, "reason": e.executionTerminated.input.value}})
            # orchestratorStarted: only its timestamp matters; suspend/resume: not in duroxide
        return items

    @staticmethod
    def custom_status(history):
        cs = None
        for ev in history:
            if ev["type"] == "CustomStatusUpdated":
                cs = ev["status"]
        return cs

    def _respond(self, wi, actions, history):
        cs = self.custom_status(history)
        resp = pb.OrchestratorResponse(instanceId=wi.orchestratorRequest.instanceId, actions=actions,
                                       completionToken=wi.completionToken)
        if cs is not None:
            resp.customStatus.CopyFrom(sv(cs))        # re-sent on EVERY completion (else cleared)
        self.stub.CompleteOrchestratorTask(resp, metadata=self.md)

    def fetch_orchestration_item(self, poll_timeout=5.0):
        deadline = time.monotonic() + poll_timeout
        while True:
            try:
                wi = self.orch_q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return None
            self.stats["dispatches"] += 1
            r = wi.orchestratorRequest
            history = self.journal_of(r.pastEvents)
            execution_id = history[0]["execution_id"] if history else 1
            terminal = next((ev for ev in history if ev["type"] in ("OrchestrationCompleted", "OrchestrationFailed")), None)
            if terminal is not None:
                # Deferred native completion, sent once no journal activity is outstanding (the test
                # backend re-dispatches a COMPLETED instance when a late activity completes, and
                # appends a second executionCompleted if we answer it: in_memory_backend.py:817-829).
                j_sched = sum(1 for e in r.pastEvents if e.HasField("taskScheduled") and e.taskScheduled.name == JOURNAL)
                j_done = sum(1 for e in list(r.pastEvents) + list(r.newEvents)
                             if e.HasField("taskCompleted") and e.taskCompleted.taskScheduledId >= JOURNAL_BASE)
                natively_done = any(e.HasField("executionCompleted") for e in r.pastEvents)
                if natively_done or j_done < j_sched:
                    self._respond(wi, [], history)
                    self.stats["swallowed"] += 1
                    continue
                if terminal["type"] == "OrchestrationCompleted":
                    act = pb.CompleteOrchestrationAction(orchestrationStatus=pb.ORCHESTRATION_STATUS_COMPLETED,
                                                         result=sv(terminal["output"]))
                else:
                    d = terminal["details"]["Application"]
                    act = pb.CompleteOrchestrationAction(orchestrationStatus=pb.ORCHESTRATION_STATUS_FAILED,
                                                         failureDetails=pb.TaskFailureDetails(
                                                             errorType=d["kind"], errorMessage=d["message"] or "(no message)"))
                self._respond(wi, [pb.OrchestratorAction(id=-1, completeOrchestration=act)], history)
                self.stats["deferred_completions"] += 1
                continue
            messages = self.to_work_items(r.instanceId, execution_id, r.newEvents)
            if not messages:                                  # only journal completions: swallow
                self._respond(wi, [], history)
                self.stats["swallowed"] += 1
                continue
            key = (r.instanceId, wi.completionToken)
            self.attempts[key] = self.attempts.get(key, 0) + 1
            token = f"{r.instanceId}/{wi.completionToken}/{self.attempts[key]}"
            self.locks[token] = (wi, history)
            name, version = (history[0]["name"], history[0]["version"]) if history else (None, None)
            return {"instance": r.instanceId, "orchestration_name": name, "version": version, "execution_id": execution_id,
                    "history": history, "messages": messages}, token, self.attempts[key]

    def abandon_orchestration_item(self, token):
        wi, _ = self.locks.pop(token)
        self.stub.AbandonTaskOrchestratorWorkItem(pb.AbandonOrchestrationTaskRequest(completionToken=wi.completionToken),
                                                  metadata=self.md)

    def ack_orchestration_item(self, token, execution_id, history_delta, worker_items, orchestrator_items):
        wi, history = self.locks.pop(token)
        actions = []
        for it in worker_items:
            a = it["ActivityExecute"]
            actions.append(pb.OrchestratorAction(id=a["id"], scheduleTask=pb.ScheduleTaskAction(name=a["name"], input=sv(a["input"]))))
        for it in orchestrator_items:
            if "TimerFired" in it:
                t = it["TimerFired"]
                a = pb.CreateTimerAction()
                a.fireAt.FromMilliseconds(t["fire_at_ms"])
                actions.append(pb.OrchestratorAction(id=t["id"], createTimer=a))
            else:
                raise NotImplementedError(it)
        turn = sum(1 for e in wi.orchestratorRequest.pastEvents
                   if e.HasField("taskScheduled") and e.taskScheduled.name == JOURNAL) + 1
        actions.append(pb.OrchestratorAction(id=JOURNAL_BASE + turn, scheduleTask=pb.ScheduleTaskAction(
            name=JOURNAL, input=sv(json.dumps(history_delta)))))
        self._respond(wi, actions, history + history_delta)

    # -- worker side
    def fetch_work_item(self, poll_timeout=5.0):
        deadline = time.monotonic() + poll_timeout
        while True:
            try:
                wi = self.act_q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return None
            a = wi.activityRequest
            if a.name == JOURNAL:                       # complete our own journal activity at once
                self.stub.CompleteActivityTask(pb.ActivityResponse(instanceId=a.orchestrationInstance.instanceId, taskId=a.taskId,
                                                                   completionToken=wi.completionToken), metadata=self.md)
                self.stats["journal_activities"] += 1
                continue
            return {"ActivityExecute": {"instance": a.orchestrationInstance.instanceId, "execution_id": 1, "id": a.taskId,
                                        "name": a.name, "input": a.input.value}}, wi

    def ack_work_item(self, wi, result=None, error=None):
        a = wi.activityRequest
        resp = pb.ActivityResponse(instanceId=a.orchestrationInstance.instanceId, taskId=a.taskId, completionToken=wi.completionToken)
        if error is None:
            resp.result.CopyFrom(sv(result))
        else:
            resp.failureDetails.CopyFrom(pb.TaskFailureDetails(errorType="duroxide.Application", errorMessage=error or "(no message)"))
        self.stub.CompleteActivityTask(resp, metadata=self.md)

    # -- client side (duroxide Client -> enqueue_for_orchestrator)
    def enqueue_for_orchestrator(self, item):
        if "StartOrchestration" in item:
            s = item["StartOrchestration"]
            req = pb.CreateInstanceRequest(instanceId=s["instance"], name=s["orchestration"], input=sv(s["input"]))
            if s.get("version"):
                req.version.CopyFrom(sv(s["version"]))
            self.stub.StartInstance(req, metadata=self.md)
        elif "QueueMessage" in item:
            q = item["QueueMessage"]
            self.stub.RaiseEvent(pb.RaiseEventRequest(instanceId=q["instance"], name=QUEUE_PREFIX + q["name"], input=sv(q["data"])),
                                 metadata=self.md)
        elif "CancelInstance" in item:
            c = item["CancelInstance"]
            self.stub.TerminateInstance(pb.TerminateRequest(instanceId=c["instance"], output=sv(c["reason"])), metadata=self.md)

    def read(self, iid):
        evs = []
        for chunk in self.stub.StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=iid), metadata=self.md):
            evs.extend(chunk.events)
        return self.journal_of(evs)


# --------------------------------------------------------------- stand-in for duroxide's engine
def ev(iid, exe, eid, kind, src=None, **fields):
    return {"event_id": eid, "source_event_id": src, "instance_id": iid, "execution_id": exe, "timestamp_ms": now_ms(),
            "duroxide_version": DX_VERSION, "type": kind, **fields}


def trip_turn(item, window_ms):
    """Replay-engine stand-in: from history + messages, the turn's delta and outgoing items."""
    iid, exe, hist, msgs = item["instance"], item["execution_id"], item["history"], item["messages"]
    delta, worker, orch = [], [], []
    nxt = (hist[-1]["event_id"] if hist else 0) + 1

    def add(kind, src=None, **f):
        nonlocal nxt
        e = ev(iid, exe, nxt, kind, src, **f)
        nxt += 1
        delta.append(e)
        return e

    def schedule(name, inp):
        e = add("ActivityScheduled", name=name, input=inp)
        worker.append({"ActivityExecute": {"instance": iid, "execution_id": exe, "id": e["event_id"], "name": name, "input": inp}})

    for m in msgs:                                  # messages -> completion events (as duroxide does)
        (k, v), = m.items()
        if k == "StartOrchestration":
            add("OrchestrationStarted", name=v["orchestration"], version=v["version"] or "4.0.0", input=v["input"],
                parent_instance=None, parent_id=None)
        elif k == "ActivityCompleted":
            add("ActivityCompleted", src=v["id"], result=v["result"])
        elif k == "TimerFired":
            add("TimerFired", src=v["id"], fire_at_ms=v["fire_at_ms"])
        elif k == "QueueMessage":
            add("QueueEventDelivered", name=v["name"], data=v["data"])
        elif k == "CancelInstance":
            add("OrchestrationCancelRequested", reason=v["reason"])
    allev = hist + delta
    by = {e["type"]: [x for x in allev if x["type"] == e["type"]] for e in allev}
    done = {e["source_event_id"]: e for e in allev if e["type"] == "ActivityCompleted"}
    sched = {e["name"]: e for e in by.get("ActivityScheduled", [])}
    if by.get("OrchestrationCancelRequested"):
        add("OrchestrationFailed", details={"Application": {"kind": "Cancelled", "message": "canceled: " +
                                                            by["OrchestrationCancelRequested"][0]["reason"], "retryable": False}})
        return delta, worker, orch
    if "RecommendDestinations" not in sched:
        add("CustomStatusUpdated", status='{"step":"destinations"}')
        schedule("RecommendDestinations", '{"budget":1000}')
    elif sched["RecommendDestinations"]["event_id"] in done and "PlanItinerary" not in sched:
        add("CustomStatusUpdated", status='{"step":"itinerary and tips"}')
        schedule("PlanItinerary", '"Lisbon"')
        schedule("LocalTips", '"Lisbon"')
    elif "PlanItinerary" in sched and "SaveNewPlan" not in sched:
        if sched["PlanItinerary"]["event_id"] in done and sched["LocalTips"]["event_id"] in done:
            add("CustomStatusUpdated", status='{"step":"saving"}')
            schedule("SaveNewPlan", '{"revision":1}')
    elif "SaveNewPlan" in sched and sched["SaveNewPlan"]["event_id"] in done and not by.get("TimerCreated"):
        add("CustomStatusUpdated", status='{"step":"awaiting approval"}')
        fire = now_ms() + window_ms
        t = add("TimerCreated", fire_at_ms=fire)
        orch.append({"TimerFired": {"instance": iid, "execution_id": exe, "id": t["event_id"], "fire_at_ms": fire}})
        add("QueueSubscribed", name="Approval")
    elif by.get("TimerCreated") and "BookTrip" not in sched and not by.get("OrchestrationCompleted"):
        sub = by["QueueSubscribed"][0]
        if by.get("QueueEventDelivered"):            # approval won the select2 (timer: virtual, nothing to cancel)
            add("CustomStatusUpdated", status='{"step":"booking"}')
            schedule("BookTrip", by["QueueEventDelivered"][0]["data"])
        elif by.get("TimerFired"):                   # window closed: the dequeue loses
            add("QueueSubscriptionCancelled", src=sub["event_id"], reason="select2 loser")
            add("CustomStatusUpdated", status='{"step":"expired"}')
            add("OrchestrationCompleted", output='{"booked":false}')
    elif "BookTrip" in sched and sched["BookTrip"]["event_id"] in done:
        add("CustomStatusUpdated", status='{"step":"done"}')
        add("OrchestrationCompleted", output='{"booked":true}')
    return delta, worker, orch


# ------------------------------------------------------------------------------------- driver
prov = DtsProviderShim(ADDR, metadata=[("taskhub", "travel"), ("x-user-agent", "duroxide-dts-proto")])
acked = {}                    # ground truth: every delta acked, per instance
stop = threading.Event()
abandoned_once = set()
attempts_seen = []


def orchestration_dispatcher():
    while not stop.is_set():
        got = prov.fetch_orchestration_item(poll_timeout=0.5)
        if got is None:
            continue
        item, token, attempt = got
        attempts_seen.append((item["instance"], attempt))
        if item["instance"] == "trip-abandon" and item["instance"] not in abandoned_once:
            abandoned_once.add(item["instance"])     # simulate a failed turn: abandon, expect a redelivery
            prov.abandon_orchestration_item(token)
            continue
        window = 600_000 if item["instance"] != "trip-expire" else 800
        delta, worker, orch = trip_turn(item, window)
        acked.setdefault(item["instance"], []).extend(delta)
        prov.ack_orchestration_item(token, item["execution_id"], delta, worker, orch)


def worker_dispatcher():
    while not stop.is_set():
        got = prov.fetch_work_item(poll_timeout=0.5)
        if got is None:
            continue
        wi_json, wi = got
        a = wi_json["ActivityExecute"]
        prov.ack_work_item(wi, result=json.dumps({"activity": a["name"], "ok": True}))


threads = [threading.Thread(target=orchestration_dispatcher, daemon=True) for _ in range(2)] + \
          [threading.Thread(target=worker_dispatcher, daemon=True) for _ in range(3)]
for t in threads:
    t.start()

for iid in ("trip-approve", "trip-expire", "trip-cancel", "trip-abandon"):
    prov.enqueue_for_orchestrator({"StartOrchestration": {"instance": iid, "orchestration": "TripPlanning",
                                                           "input": '{"budget":1000}', "version": None}})


def wait_status(iid, pred, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        st = prov.stub.GetInstance(pb.GetInstanceRequest(instanceId=iid, getInputsAndOutputs=True)).orchestrationState
        if pred(st):
            return st
        time.sleep(0.05)
    return st


awaiting = lambda st: st.customStatus.value == '{"step":"awaiting approval"}'   # noqa: E731
for iid in ("trip-approve", "trip-cancel", "trip-abandon"):
    wait_status(iid, awaiting)
prov.enqueue_for_orchestrator({"QueueMessage": {"instance": "trip-approve", "name": "Approval", "data": '{"approved":true}'}})
prov.enqueue_for_orchestrator({"QueueMessage": {"instance": "trip-abandon", "name": "Approval", "data": '{"approved":true}'}})
prov.enqueue_for_orchestrator({"CancelInstance": {"instance": "trip-cancel", "reason": "operator"}})

terminal = lambda st: st.orchestrationStatus in (pb.ORCHESTRATION_STATUS_COMPLETED, pb.ORCHESTRATION_STATUS_FAILED)  # noqa: E731
report = {}
for iid in ("trip-approve", "trip-expire", "trip-cancel", "trip-abandon"):
    st = wait_status(iid, terminal)
    read_back = prov.read(iid)
    native = []
    for chunk in prov.stub.StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=iid)):
        native.extend(chunk.events)
    report[iid] = {
        "status": pb.OrchestrationStatus.Name(st.orchestrationStatus),
        "output": st.output.value, "failure": st.failureDetails.errorMessage, "custom_status": st.customStatus.value,
        "duroxide_events": len(acked.get(iid, [])),
        "history_round_trips_exactly": read_back == acked.get(iid),
        "duroxide_kinds": [e["type"] + ("#%d" % e["event_id"]) for e in read_back],
        "native_events": len(native),
        "native_executionCompleted": sum(1 for e in native if e.HasField("executionCompleted")),
    }
stop.set()
report["_stats"] = prov.stats
report["_attempts(trip-abandon)"] = [a for a in attempts_seen if a[0] == "trip-abandon"][:3]
print(json.dumps(report, indent=1))
json.dump(report, open(os.path.join(HERE, "exp_journal_provider_results.json"), "w"), indent=1)
be.stop(grace=0)
