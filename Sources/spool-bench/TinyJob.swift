import SpoolEngine

/// The benchmark's job: three steps, each persisting a small result, like the peers' tasks.
enum TinyJob {
    struct Data: Codable, Sendable { var event: Int }
    struct StepOutput: Codable, Sendable {
        var event: Int
        var step: Int
        var ok: Bool
    }

    static func function(marks: TimingMarks) -> SpoolFunction {
        SpoolFunction(id: "bench-tiny", trigger: .event("bench/tiny")) { context in
            let event = try context.event.data.decode(Data.self).event
            for number in 1...3 {
                _ = try await context.step.run("step-\(number)") { _ in
                    if number == 1 { marks.append("S1", event) }
                    return StepOutput(event: event, step: number, ok: true)
                }
            }
            marks.append("D", event)
        }
    }
}
