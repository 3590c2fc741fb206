"""Which TaskHubSidecarService RPCs durabletask 1.12.0's InMemoryOrchestrationBackend overrides."""
import dtslog  # noqa: F401
from durabletask.testing import InMemoryOrchestrationBackend
import durabletask.internal.orchestrator_service_pb2 as pb
import durabletask.internal.orchestrator_service_pb2_grpc as stubs
for m in pb.DESCRIPTOR.services_by_name['TaskHubSidecarService'].methods:
    impl = getattr(InMemoryOrchestrationBackend, m.name) is not getattr(stubs.TaskHubSidecarServiceServicer, m.name)
    print(f"/TaskHubSidecarService/{m.name:38s} {'implemented' if impl else 'UNIMPLEMENTED'}"
          f"  ({m.input_type.name} -> {'stream ' if m.server_streaming else ''}{m.output_type.name})")
