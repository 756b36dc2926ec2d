import BerthCRIProto
import BerthEngine
import GRPCCore
import GRPCProtobuf

/// GetContainerEvents (the kubelet's evented PLEG): a stream of the pods' container lifecycle
/// events from the engine's own event log, each with its pod's status and the statuses of the
/// pod's containers, so the kubelet need not poll. Bounded as every event subscriber is: a client
/// that falls far behind loses the oldest events, never berthd's memory.
extension CRIRuntime {
    func registerEvents<T: ServerTransport>(_ router: inout RPCRouter<T>) {
        router.registerHandler(forMethod: Service.GetContainerEvents.descriptor, deserializer: ProtobufDeserializer<Runtime_V1_GetEventsRequest>(),
                               serializer: ProtobufSerializer<Runtime_V1_ContainerEventResponse>()) { _, _ in
            StreamingServerResponse { writer in
                let (_, live, token) = containers.events.subscribe(since: nil)
                defer { containers.events.unsubscribe(token) }
                for await event in live {  // ends when the client cancels
                    guard event.Type == "container", let pod = event.Actor.Attributes[PodContainers.sandboxLabel],
                          let type = Self.eventType(event.Action) else { continue }
                    try await writer.write(await containerEvent(event.Actor.ID, pod: pod, type: type, at: event.timeNano))
                }
                return [:]
            }
        }
    }

    /// The engine's actions that are the kubelet's container events.
    static func eventType(_ action: String) -> Runtime_V1_ContainerEventType? {
        switch action {
        case "create": return .containerCreatedEvent
        case "start": return .containerStartedEvent
        case "die": return .containerStoppedEvent
        case "destroy": return .containerDeletedEvent
        default: return nil
        }
    }

    func containerEvent(_ id: String, pod: String, type: Runtime_V1_ContainerEventType, at time: Int64) async -> Runtime_V1_ContainerEventResponse {
        var response = Runtime_V1_ContainerEventResponse()
        response.containerID = id
        response.containerEventType = type
        response.createdAt = time
        var request = Runtime_V1_PodSandboxStatusRequest()
        request.podSandboxID = pod
        // the pod may be gone by now (a removal's last events): the event still goes out
        if let status = try? await sandboxStatus(request).status { response.podSandboxStatus = status }
        for other in (try? await podContainers(pod)) ?? [] {
            if let found = try? await criContainer(other) { response.containersStatuses.append(Self.status(found)) }
        }
        return response
    }
}
