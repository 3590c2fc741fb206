"""Shared helpers for the experiments against durabletask 1.12.0's in-memory test backend.

LoggingBackend wraps every RPC of InMemoryOrchestrationBackend and writes the raw protobuf
request / response / streamed items (protobuf text format) to a log, so we can see exactly
what the server sends and receives.
"""
import os
HERE = os.path.dirname(os.path.abspath(__file__))
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(HERE, "py"))

from google.protobuf import text_format  # noqa: E402

import durabletask.internal.orchestrator_service_pb2 as pb  # noqa: E402
import durabletask.internal.orchestrator_service_pb2_grpc as stubs  # noqa: E402
from durabletask.testing import InMemoryOrchestrationBackend  # noqa: E402

_log_lock = threading.Lock()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fmt(msg) -> str:
    return text_format.MessageToString(msg, as_one_line=True)


class LoggingBackend(InMemoryOrchestrationBackend):
    """InMemoryOrchestrationBackend that logs every RPC (raw protobuf text)."""

    def __init__(self, out=None, **kw):
        super().__init__(**kw)
        self.out = out or sys.stdout
        self.t0 = time.monotonic()

    def log(self, direction, rpc, msg, md=None):
        with _log_lock:
            t = time.monotonic() - self.t0
            extra = f" metadata={md}" if md else ""
            print(f"[{t:7.3f}] {direction} {rpc}{extra}: {fmt(msg)}", file=self.out, flush=True)


def _wrap_unary(name):
    base = getattr(InMemoryOrchestrationBackend, name)

    def method(self, request, context):
        md = [(k, v) for k, v in context.invocation_metadata() if not k.startswith("grpc-")]
        self.log("<<", name, request, md)
        try:
            resp = base(self, request, context)
        except Exception as e:  # context.abort raises
            self.log("!!", name, pb.CompleteTaskResponse(), [("error", repr(e)[:200])])
            raise
        self.log(">>", name, resp)
        return resp
    return method


def _wrap_stream(name):
    base = getattr(InMemoryOrchestrationBackend, name)

    def method(self, request, context):
        md = [(k, v) for k, v in context.invocation_metadata() if not k.startswith("grpc-")]
        self.log("<<", name, request, md)
        for item in base(self, request, context):
            self.log(">>", name, item)
            yield item
        self.log("--", name + " stream ended", pb.CompleteTaskResponse())
    return method


for _n in ["Hello", "StartInstance", "GetInstance", "WaitForInstanceStart",
           "WaitForInstanceCompletion", "RaiseEvent", "TerminateInstance", "SuspendInstance",
           "ResumeInstance", "PurgeInstances", "QueryInstances", "CompleteOrchestratorTask",
           "CompleteActivityTask", "AbandonTaskOrchestratorWorkItem",
           "AbandonTaskActivityWorkItem", "RestartInstance", "ListInstanceIds"]:
    setattr(LoggingBackend, _n, _wrap_unary(_n))
for _n in ["GetWorkItems", "StreamInstanceHistory"]:
    setattr(LoggingBackend, _n, _wrap_stream(_n))


def start_backend(out=None):
    port = free_port()
    be = LoggingBackend(out=out, port=port)
    be.start()
    return be, f"localhost:{port}"
