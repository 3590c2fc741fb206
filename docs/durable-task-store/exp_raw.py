"""Experiment 2: a raw protocol worker (no SDK) against the in-memory test backend, playing the
part a duroxide provider would: it reads the GetWorkItems stream into local queues, then answers
with hand-built OrchestratorResponses. Each check prints OK/FAIL with what was observed.

Run:  python3 exp_raw.py            (writes exp_raw.log with every raw RPC)
"""
import os
HERE = os.path.dirname(os.path.abspath(__file__))
import json
import queue
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import dtslog  # noqa: F401  (puts the pinned packages on sys.path)
import grpc
from google.protobuf import empty_pb2, timestamp_pb2, wrappers_pb2

from dtslog import start_backend, pb, stubs, fmt

LOG = open(os.path.join(HERE, "exp_raw.log"), "w")
RESULTS = []


def check(name, cond, observed):
    RESULTS.append((name, bool(cond), observed))
    print(f"{'OK  ' if cond else 'FAIL'} {name}: {observed}")
    print(f"#### CHECK {'OK' if cond else 'FAIL'} {name}: {observed}", file=LOG, flush=True)


def sv(s):
    return wrappers_pb2.StringValue(value=s)


def ts(dt):
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(dt)
    return t


class RawWorker:
    """A GetWorkItems stream read by a background thread into two local queues (orchestrator and
    activity items), the design proposed for the duroxide provider."""

    def __init__(self, addr, req=None, metadata=None):
        self.channel = grpc.insecure_channel(addr)
        self.stub = stubs.TaskHubSidecarServiceStub(self.channel)
        self.stub.Hello(empty_pb2.Empty(), metadata=metadata)
        self.orch = queue.Queue()
        self.act = queue.Queue()
        self.other = queue.Queue()
        self.stream = self.stub.GetWorkItems(req or pb.GetWorkItemsRequest(
            maxConcurrentOrchestrationWorkItems=1, maxConcurrentActivityWorkItems=1),
            metadata=metadata)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for wi in self.stream:
                kind = wi.WhichOneof("request")
                {"orchestratorRequest": self.orch, "activityRequest": self.act}.get(kind, self.other).put(wi)
        except grpc.RpcError as e:
            self.other.put(e)

    def next_orch(self, timeout=5.0):
        return self.orch.get(timeout=timeout)

    def next_act(self, timeout=5.0):
        return self.act.get(timeout=timeout)

    def close(self):
        self.stream.cancel()
        self.channel.close()

    def complete(self, wi, actions=(), custom_status=None):
        r = wi.orchestratorRequest
        resp = pb.OrchestratorResponse(instanceId=r.instanceId, actions=list(actions),
                                       completionToken=wi.completionToken)
        if custom_status is not None:
            resp.customStatus.CopyFrom(sv(custom_status))
        return self.stub.CompleteOrchestratorTask(resp)

    def complete_activity(self, wi, result=None, failure=None):
        a = wi.activityRequest
        resp = pb.ActivityResponse(instanceId=a.orchestrationInstance.instanceId, taskId=a.taskId,
                                   completionToken=wi.completionToken)
        if result is not None:
            resp.result.CopyFrom(sv(result))
        if failure is not None:
            resp.failureDetails.CopyFrom(failure)
        return self.stub.CompleteActivityTask(resp)


def kinds(events):
    out = []
    for e in events:
        k = e.WhichOneof("eventType")
        if k == "taskScheduled":
            k += f"({e.eventId},{e.taskScheduled.name})"
        elif k == "taskCompleted":
            k += f"({e.taskCompleted.taskScheduledId})"
        elif k == "taskFailed":
            k += f"({e.taskFailed.taskScheduledId})"
        elif k == "timerCreated":
            k += f"({e.eventId})"
        elif k == "timerFired":
            k += f"({e.timerFired.timerId})"
        elif k == "eventRaised":
            k += f"({e.eventRaised.name})"
        elif k == "eventSent":
            k += f"({e.eventId},{e.eventSent.instanceId or '<none>'},{e.eventSent.name})"
        out.append(k)
    return out


def schedule(id_, name, inp):
    return pb.OrchestratorAction(id=id_, scheduleTask=pb.ScheduleTaskAction(name=name, input=sv(inp)))


def timer(id_, secs):
    return pb.OrchestratorAction(id=id_, createTimer=pb.CreateTimerAction(
        fireAt=ts(datetime.now(timezone.utc) + timedelta(seconds=secs))))


def complete_action(status, result=None, failure=None, carryover=(), new_version=None, id_=-1):
    c = pb.CompleteOrchestrationAction(orchestrationStatus=status, carryoverEvents=list(carryover))
    if result is not None:
        c.result.CopyFrom(sv(result))
    if failure is not None:
        c.failureDetails.CopyFrom(failure)
    if new_version is not None:
        c.newVersion.CopyFrom(sv(new_version))
    return pb.OrchestratorAction(id=id_, completeOrchestration=c)


def start(w, iid, name="TripPlanning", version=None, inp='{"t":1}', tags=None):
    req = pb.CreateInstanceRequest(instanceId=iid, name=name, input=sv(inp), tags=tags or {})
    if version:
        req.version.CopyFrom(sv(version))
    return w.stub.StartInstance(req)


def get(w, iid):
    return w.stub.GetInstance(pb.GetInstanceRequest(instanceId=iid, getInputsAndOutputs=True))


def history(w, iid):
    evs = []
    for chunk in w.stub.StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=iid)):
        evs.extend(chunk.events)
    return evs


def section(title):
    print(f"\n=== {title}", file=LOG, flush=True)
    print(f"\n=== {title}")


# ---------------------------------------------------------------------------------------------
def exp_metadata_and_journal(addr):
    section("1. metadata, full history each dispatch, journal carriers, action ids")
    md = [("taskhub", "travel"), ("x-user-agent", "duroxide-dts/0.1"), ("workerid", "host:1:uuid"),
          ("authorization", "Bearer test")]
    w = RawWorker(addr, metadata=md)
    start(w, "j1", version="4.0.0", tags={"dx.pinned": "0.1.32"})
    wi = w.next_orch()
    r = wi.orchestratorRequest
    check("first dispatch: pastEvents empty, newEvents = orchestratorStarted + executionStarted",
          len(r.pastEvents) == 0 and kinds(r.newEvents) == ["orchestratorStarted", "executionStarted"],
          kinds(r.newEvents))
    es = r.newEvents[1].executionStarted
    check("executionStarted carries name/version/input/tags", es.version.value == "4.0.0" and dict(es.tags) == {"dx.pinned": "0.1.32"},
          fmt(es))
    check("no executionId anywhere (OrchestratorRequest.executionId, executionStarted.orchestrationInstance.executionId)",
          not r.HasField("executionId") and not es.orchestrationInstance.HasField("executionId"), fmt(r)[:0] or "absent")
    check("timestamps: only orchestratorStarted has one; other backend-made events are epoch 0",
          r.newEvents[0].timestamp.seconds > 0 and r.newEvents[1].timestamp.seconds == 0,
          [e.timestamp.seconds for e in r.newEvents])
    check("completion token is a per-instance counter string", wi.completionToken.isdigit(), wi.completionToken)
    journal = json.dumps([{"event_id": 1, "kind": "OrchestrationStarted"}, {"event_id": 2, "kind": "CustomStatusUpdated"},
                          {"event_id": 3, "kind": "ActivityScheduled"}])
    acts = [
        schedule(3, "RecommendDestinations", '{"in":1}'),                      # duroxide event id as action id
        schedule(1_000_000_001, "__dx_journal", journal),                      # journal carrier A: pseudo activity
        pb.OrchestratorAction(id=1_000_000_002, sendEvent=pb.SendEventAction(   # journal carrier B: event to a sink
            instance=pb.OrchestrationInstance(instanceId="j1#dx-sink"), name="__dx_journal", data=sv(journal))),
        pb.OrchestratorAction(id=1_000_000_003, sendEntityMessage=pb.SendEntityMessageAction(  # carrier C: untargeted signal
            entityOperationSignaled=pb.EntityOperationSignaledEvent(requestId="r", operation="__dx_journal", input=sv(journal)))),
    ]
    w.complete(wi, acts, custom_status='{"step":"destinations"}')
    a1, a2 = w.next_act(), w.next_act()
    names = sorted([a1.activityRequest.name, a2.activityRequest.name])
    check("activity work items for both ScheduleTask actions (the journal pseudo-activity too)", names == ["RecommendDestinations", "__dx_journal"], names)
    real = a1 if a1.activityRequest.name == "RecommendDestinations" else a2
    jw = a2 if real is a1 else a1
    ar = real.activityRequest
    check("ActivityRequest: taskId == action id; no version/tags/executionId/parentTraceContext",
          ar.taskId == 3 and not ar.HasField("version") and len(ar.tags) == 0 and not ar.orchestrationInstance.HasField("executionId"),
          fmt(ar))
    check("activity completion token == orchestration token at schedule time", real.completionToken == wi.completionToken, real.completionToken)
    w.complete_activity(jw, result=None)          # provider swallows the journal activity
    wi2 = w.next_orch()
    r2 = wi2.orchestratorRequest
    check("2nd dispatch: pastEvents = whole committed history (incl. journal carriers), newEvents = the delta",
          True, {"past": kinds(r2.pastEvents), "new": kinds(r2.newEvents)})
    jin = [e.taskScheduled.input.value for e in r2.pastEvents if e.HasField("taskScheduled") and e.taskScheduled.name == "__dx_journal"]
    check("carrier A (pseudo-activity): journal persisted verbatim in TaskScheduled.input", jin == [journal], len(jin))
    sent = [e.eventSent.input.value for e in r2.pastEvents if e.HasField("eventSent")]
    check("carrier B (SendEvent to a non-existent sink): EventSent persisted verbatim, no error", sent == [journal], len(sent))
    sig = [e for e in r2.pastEvents if e.HasField("entityOperationSignaled")]
    check("carrier C (untargeted entity signal): persisted, no error", len(sig) == 1 and sig[0].entityOperationSignaled.input.value == journal, len(sig))
    check("journal completion arrives as its own dispatch (extra turn the provider must swallow)",
          kinds(r2.newEvents) == ["orchestratorStarted", "taskCompleted(1000000001)"], kinds(r2.newEvents))
    # the swallowed turn: no actions, custom status re-sent
    w.complete(wi2, [], custom_status='{"step":"destinations"}')
    w.complete_activity(real, result='"Lisbon"')
    wi3 = w.next_orch()
    check("real completion: taskCompleted(taskScheduledId = action id 3)", kinds(wi3.orchestratorRequest.newEvents)[-1] == "taskCompleted(3)",
          kinds(wi3.orchestratorRequest.newEvents))
    # custom status not re-sent -> cleared
    w.complete(wi3, [])
    st = get(w, "j1").orchestrationState
    check("custom status NOT re-sent on a completion is cleared (overwritten with '')",
          not st.HasField("customStatus"), fmt(st.customStatus) or "<unset>")
    w.close()


def exp_events_timers(addr):
    section("2. external events: before start, while in flight, case; timers; terminate")
    # (a) raised before any worker stream exists -> batched with the start
    ch = grpc.insecure_channel(addr)
    cstub = stubs.TaskHubSidecarServiceStub(ch)
    cstub.StartInstance(pb.CreateInstanceRequest(instanceId="e0", name="TripPlanning", input=sv("{}")))
    cstub.RaiseEvent(pb.RaiseEventRequest(instanceId="e0", name="dxq:Approval", input=sv('{"approved":true}')))
    w = RawWorker(addr)
    wi0 = w.next_orch()
    check("event raised between StartInstance and the first dispatch is in the SAME first batch (no worker connected yet)",
          kinds(wi0.orchestratorRequest.newEvents) == ["orchestratorStarted", "executionStarted", "eventRaised(dxq:Approval)"],
          kinds(wi0.orchestratorRequest.newEvents))
    w.complete(wi0, [complete_action(pb.ORCHESTRATION_STATUS_COMPLETED, result="1")])
    # (b) with a connected worker the start is dispatched at once; the event comes in the next dispatch
    start(w, "e1")
    w.stub.RaiseEvent(pb.RaiseEventRequest(instanceId="e1", name="dxq:Approval", input=sv('{"approved":true}')))
    wi = w.next_orch()
    check("with a worker connected, the start is dispatched immediately (event not in it)",
          kinds(wi.orchestratorRequest.newEvents) == ["orchestratorStarted", "executionStarted"],
          kinds(wi.orchestratorRequest.newEvents))
    # while in flight: raise two events (same name twice, different case)
    w.stub.RaiseEvent(pb.RaiseEventRequest(instanceId="e1", name="Approval", input=sv('"x"')))
    w.stub.RaiseEvent(pb.RaiseEventRequest(instanceId="e1", name="APPROVAL", input=sv('"y"')))
    time.sleep(0.3)
    check("no second dispatch while the first is in flight (instance lock = in-flight set)", w.orch.empty(), w.orch.qsize())
    w.complete(wi, [timer(7, 1.0)])
    wi2 = w.next_orch()
    check("events raised in flight come in the next dispatch, in order, names case preserved",
          kinds(wi2.orchestratorRequest.newEvents) == ["orchestratorStarted", "eventRaised(dxq:Approval)", "eventRaised(Approval)", "eventRaised(APPROVAL)"],
          kinds(wi2.orchestratorRequest.newEvents))
    check("timerCreated recorded with eventId = action id", "timerCreated(7)" in kinds(wi2.orchestratorRequest.pastEvents),
          kinds(wi2.orchestratorRequest.pastEvents))
    w.complete(wi2, [])
    t0 = time.monotonic()
    wi3 = w.next_orch(timeout=5)
    tf = wi3.orchestratorRequest.newEvents[-1]
    check("timerFired(timerId = action id, fireAt = requested) delivered ~on time",
          tf.HasField("timerFired") and tf.timerFired.timerId == 7, (kinds(wi3.orchestratorRequest.newEvents), round(time.monotonic() - t0, 2)))
    w.complete(wi3, [timer(8, 30)])
    # terminate while waiting
    w.stub.TerminateInstance(pb.TerminateRequest(instanceId="e1", output=sv("operator: stop")))
    wi4 = w.next_orch()
    ev = wi4.orchestratorRequest.newEvents[-1]
    check("TerminateInstance -> executionTerminated(input = reason) delivered to the worker",
          ev.HasField("executionTerminated") and ev.executionTerminated.input.value == "operator: stop", kinds(wi4.orchestratorRequest.newEvents))
    st = get(w, "e1").orchestrationState
    check("status stays RUNNING until the worker answers the termination", st.orchestrationStatus == pb.ORCHESTRATION_STATUS_RUNNING,
          pb.OrchestrationStatus.Name(st.orchestrationStatus))
    w.complete(wi4, [complete_action(pb.ORCHESTRATION_STATUS_FAILED, failure=pb.TaskFailureDetails(
        errorType="duroxide.Application", errorMessage="canceled: operator: stop"))])
    st = get(w, "e1").orchestrationState
    check("worker may finish a terminated instance as FAILED (status is whatever the action says)",
          st.orchestrationStatus == pb.ORCHESTRATION_STATUS_FAILED, (pb.OrchestrationStatus.Name(st.orchestrationStatus), st.failureDetails.errorMessage))
    w.stub.RaiseEvent(pb.RaiseEventRequest(instanceId="e1", name="late", input=sv("1")))
    time.sleep(0.3)
    check("event to a completed instance: accepted, never dispatched", w.orch.empty(), "no dispatch")
    try:
        w.stub.RaiseEvent(pb.RaiseEventRequest(instanceId="nope", name="x"))
        check("RaiseEvent to unknown instance", False, "accepted")
    except grpc.RpcError as e:
        check("RaiseEvent to unknown instance -> NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND, e.code().name)
    w.close()


def exp_locks_tokens(addr):
    section("3. completion tokens, abandon, stale completion, disconnects, duplicates, failures")
    w = RawWorker(addr)
    start(w, "l1")
    wi = w.next_orch()
    w.stub.AbandonTaskOrchestratorWorkItem(pb.AbandonOrchestrationTaskRequest(completionToken=wi.completionToken))
    t0 = time.monotonic()
    wi_again = w.next_orch()
    check("abandoned orchestration item is redelivered at once, same token, same events (no delay, no attempt count)",
          wi_again.completionToken == wi.completionToken and kinds(wi_again.orchestratorRequest.newEvents) == kinds(wi.orchestratorRequest.newEvents),
          (wi_again.completionToken, round(time.monotonic() - t0, 3)))
    # stale token
    resp = w.stub.CompleteOrchestratorTask(pb.OrchestratorResponse(instanceId="l1", completionToken="999",
                                                                   actions=[schedule(2, "A", '"stale"')]))
    st = get(w, "l1").orchestrationState
    check("completion with a stale token returns OK (silently ignored)", st.orchestrationStatus == pb.ORCHESTRATION_STATUS_PENDING,
          ("ok response", pb.OrchestrationStatus.Name(st.orchestrationStatus)))
    # NB: the stale completion also removed 'l1' from the in-flight set (in_memory_backend.py:754-759)
    w.complete(wi_again, [schedule(2, "A", '"x"')])
    act = w.next_act()
    w.stub.AbandonTaskActivityWorkItem(pb.AbandonActivityTaskRequest(completionToken=act.completionToken))
    time.sleep(0.5)
    check("abandoned ACTIVITY is never redelivered (AbandonTaskActivityWorkItem is a no-op)", w.act.empty(), w.act.qsize())
    # complete it twice: the first completion is dispatched at once, the duplicate in the next dispatch
    w.complete_activity(act, result='"r1"')
    wi2 = w.next_orch()
    w.complete_activity(act, result='"r2"')
    w.complete(wi2, [])
    wi2b = w.next_orch()
    check("duplicate CompleteActivityTask (same token): accepted again -> a second taskCompleted(2) event",
          kinds(wi2b.orchestratorRequest.newEvents) == ["orchestratorStarted", "taskCompleted(2)"] and
          kinds(wi2b.orchestratorRequest.pastEvents).count("taskCompleted(2)") == 1,
          {"past": kinds(wi2b.orchestratorRequest.pastEvents)[-3:], "new": kinds(wi2b.orchestratorRequest.newEvents)})
    w.complete(wi2b, [schedule(3, "B", '"y"')])
    act = w.next_act()
    w.complete_activity(act, failure=pb.TaskFailureDetails(errorType="duroxide.Application", errorMessage=""))
    wi3 = w.next_orch()
    check("activity failure with EMPTY errorMessage is recorded as taskCompleted (success!)",
          kinds(wi3.orchestratorRequest.newEvents)[-1] == "taskCompleted(3)", kinds(wi3.orchestratorRequest.newEvents))
    w.complete(wi3, [schedule(4, "C", '"z"')])
    act = w.next_act()
    fd = pb.TaskFailureDetails(errorType="duroxide.Application", errorMessage="boom", isNonRetriable=True)
    fd.properties["dx.kind"].string_value = "Application"
    fd.properties["dx.retryable"].bool_value = False
    w.complete_activity(act, failure=fd)
    wi4 = w.next_orch()
    tf = wi4.orchestratorRequest.newEvents[-1]
    check("activity failure: TaskFailureDetails passed through intact (type, message, isNonRetriable, properties)",
          tf.HasField("taskFailed") and set(tf.taskFailed.failureDetails.properties.keys()) == {"dx.kind", "dx.retryable"},
          fmt(tf.taskFailed))
    # disconnect with an orchestration item in flight
    w.complete(wi4, [timer(5, 0.2)])
    wi5 = w.next_orch()
    w.close()                                         # worker dies holding wi5
    w2 = RawWorker(addr)
    try:
        got = w2.next_orch(timeout=3)
        check("orchestration item held by a dead stream is NOT redelivered (no lease expiry)", False, ("redelivered", got.completionToken))
    except queue.Empty:
        check("orchestration item held by a dead stream is NOT redelivered (no lease expiry): instance stuck in flight", True,
              "nothing within 3 s")
    # and an activity held by a dead stream is lost too
    start(w2, "l2")
    wi = w2.next_orch()
    w2.complete(wi, [schedule(2, "A", '"x"')])
    w2.next_act()
    w2.close()
    w3 = RawWorker(addr)
    try:
        w3.next_act(timeout=2)
        check("activity held by a dead stream is NOT redelivered", False, "redelivered")
    except queue.Empty:
        check("activity held by a dead stream is NOT redelivered (lost)", True, "nothing within 2 s")
    w3.close()


def exp_can_and_misc(addr):
    section("4. continue-as-new, completion + actions together, filters, push without back-pressure, purge")
    w = RawWorker(addr)
    start(w, "c1", version="4.0.0")
    wi = w.next_orch()
    meta = json.dumps({"dx_execution_id": 2, "custom_status": "s", "kv": {"k": "v"}})
    carry = [pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="__dx_can", input=sv(meta))),
             pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="dxq:Approval", input=sv('"kept"')))]
    w.stub.RaiseEvent(pb.RaiseEventRequest(instanceId="c1", name="arrived-in-flight", input=sv("1")))
    w.complete(wi, [complete_action(pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, result='{"t":2}', carryover=carry, new_version="4.0.1")])
    wi2 = w.next_orch()
    r = wi2.orchestratorRequest
    check("CAN: history dropped; new dispatch = orchestratorStarted, executionStarted(new input, newVersion), carryover..., in-flight arrivals",
          len(r.pastEvents) == 0 and kinds(r.newEvents) == ["orchestratorStarted", "executionStarted", "eventRaised(__dx_can)",
                                                            "eventRaised(dxq:Approval)", "eventRaised(arrived-in-flight)"],
          (kinds(r.newEvents), r.newEvents[1].executionStarted.version.value, r.newEvents[1].executionStarted.input.value))
    check("CAN: still no executionId; tags of the first start are dropped", not r.newEvents[1].executionStarted.orchestrationInstance.HasField("executionId")
          and len(r.newEvents[1].executionStarted.tags) == 0, "no executionId, no tags")
    # completion together with a scheduled task in the same response
    w.complete(wi2, [schedule(2, "__dx_journal", "[]"),
                     complete_action(pb.ORCHESTRATION_STATUS_COMPLETED, result='"done"')], custom_status="final")
    act = w.next_act()
    w.complete_activity(act)
    time.sleep(0.4)
    h = history(w, "c1")
    try:
        extra = w.next_orch(timeout=1)
        got_extra = kinds(extra.orchestratorRequest.newEvents)
        w.complete(extra, [])
    except queue.Empty:
        got_extra = None
    h2 = history(w, "c1")
    check("complete + schedule in one response: the activity still runs and its completion re-dispatches a COMPLETED instance",
          got_extra is not None, {"extra_dispatch": got_extra, "history_after": kinds(h2)[-6:]})
    # purge
    start(w, "p1")
    wp = w.next_orch()
    n = w.stub.PurgeInstances(pb.PurgeInstancesRequest(instanceId="p1")).deletedInstanceCount
    check("PurgeInstances of a non-terminal instance deletes nothing", n == 0, n)
    w.complete(wp, [complete_action(pb.ORCHESTRATION_STATUS_COMPLETED, result="1")])
    n = w.stub.PurgeInstances(pb.PurgeInstancesRequest(instanceId="p1")).deletedInstanceCount
    check("PurgeInstances of a completed instance deletes it", n == 1, n)
    w.close()
    # no back-pressure: maxConcurrentOrchestrationWorkItems=1, yet 5 instances are all pushed
    w = RawWorker(addr, req=pb.GetWorkItemsRequest(maxConcurrentOrchestrationWorkItems=1, maxConcurrentActivityWorkItems=1))
    for i in range(5):
        start(w, f"bp{i}")
    time.sleep(0.5)
    check("maxConcurrentOrchestrationWorkItems is ignored: all 5 items pushed without any completion", w.orch.qsize() == 5, w.orch.qsize())
    w.close()
    # filters: a worker that only takes 'Other'
    w = RawWorker(addr, req=pb.GetWorkItemsRequest(workItemFilters=pb.WorkItemFilters(
        orchestrations=[pb.OrchestrationFilter(name="TripPlanning", versions=["9.9.9"])])))
    start(w, "f1", version="4.0.0")
    time.sleep(0.4)
    check("work item filters by orchestration name+version are honoured", w.orch.empty(), w.orch.qsize())
    w.close()
    # two workers: the same instance never goes to both at once
    w1, w2 = RawWorker(addr), RawWorker(addr)
    start(w1, "two")
    time.sleep(0.4)
    got = []
    for wk in (w1, w2):
        items = []
        while not wk.orch.empty():
            items.append(wk.orch.get().orchestratorRequest.instanceId)
        got.append(items)
    check("with two streams, an orchestration item goes to exactly one of them",
          sum(x.count("two") for x in got) == 1, got)
    w1.close(); w2.close()


def exp_long_wait_query(addr):
    section("5. WaitForInstanceCompletion / QueryInstances / suspend")
    w = RawWorker(addr)
    start(w, "q1")
    wi = w.next_orch()
    w.stub.SuspendInstance(pb.SuspendRequest(instanceId="q1", reason=sv("maint")))
    w.complete(wi, [])
    wi2 = w.next_orch()
    check("SuspendInstance -> executionSuspended delivered as a new event to the worker", kinds(wi2.orchestratorRequest.newEvents)[-1] == "executionSuspended",
          kinds(wi2.orchestratorRequest.newEvents))
    w.complete(wi2, [])
    st = get(w, "q1").orchestrationState
    check("after the worker acks it, status SUSPENDED", st.orchestrationStatus == pb.ORCHESTRATION_STATUS_SUSPENDED,
          pb.OrchestrationStatus.Name(st.orchestrationStatus))
    res = w.stub.QueryInstances(pb.QueryInstancesRequest(query=pb.InstanceQuery(maxInstanceCount=2, instanceIdPrefix=sv("q"))))
    check("QueryInstances with prefix + paging", len(res.orchestrationState) >= 1, [s.instanceId for s in res.orchestrationState])
    try:
        w.stub.WaitForInstanceCompletion(pb.GetInstanceRequest(instanceId="q1"), timeout=0.5)
        check("WaitForInstanceCompletion honours the deadline", False, "returned")
    except grpc.RpcError as e:
        check("WaitForInstanceCompletion honours the client deadline", e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code().name)
    w.close()


if __name__ == "__main__":
    for exp in (exp_metadata_and_journal, exp_events_timers, exp_locks_tokens, exp_can_and_misc, exp_long_wait_query):
        be, addr = start_backend(out=LOG)
        try:
            exp(addr)
        except Exception as e:  # keep going; report
            import traceback
            traceback.print_exc()
            check(exp.__name__ + " crashed", False, repr(e))
        finally:
            be.stop(grace=0)
    ok = sum(1 for r in RESULTS if r[1])
    print(f"\n{ok}/{len(RESULTS)} checks as described")
    json.dump(RESULTS, open(os.path.join(HERE, "exp_raw_results.json"), "w"), indent=1, default=str)
