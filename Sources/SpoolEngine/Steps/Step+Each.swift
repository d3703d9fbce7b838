extension Step {
    /// Runs one step per name, at most `atOnce` at a time, and returns their results in the names'
    /// order. Each is memoized as its own step; a replay runs only those without a result. When
    /// one fails, no further step starts and those running finish and keep their results.
    ///
    /// - Parameters:
    ///   - turns: one per name, passed by each step that ends (see `StepTurns`).
    ///   - body: called with the index of the step's name.
    public func runEach<T: Codable & Sendable>(
        _ names: [String], atOnce: Int, retries: Int? = nil, turns: StepTurns? = nil,
        _ body: @escaping @Sendable (Int, StepContext) async throws -> T
    ) async throws -> [T] {
        guard Set(names).count == names.count else {
            throw SpoolError(.invalidInput, "steps run at once need distinct names")
        }
        guard atOnce > 0 else { throw SpoolError(.invalidInput, "steps run at once need atOnce > 0") }
        if let turns, turns.count != names.count {
            throw SpoolError(.invalidInput, "steps run at once need one turn each: \(turns.count) for \(names.count)")
        }
        var results = [T?](repeating: nil, count: names.count)
        // A group that throws would cancel the steps still running; this one lets them finish.
        let firstError = await withTaskGroup(of: (Int, Result<T, Error>).self) { group -> Error? in
            var next = 0
            var firstError: Error?
            func startNext() {
                let index = next
                next += 1
                group.addTask {
                    defer { turns?.pass(index) }
                    do {
                        let value = try await self.run(names[index], retries: retries) { context in
                            try await body(index, context)
                        }
                        return (index, .success(value))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            while next < min(atOnce, names.count) { startNext() }
            while let (index, result) = await group.next() {
                switch result {
                case .success(let value): results[index] = value
                case .failure(let error): firstError = firstError ?? error
                }
                if firstError == nil && next < names.count { startNext() }
            }
            return firstError
        }
        if let firstError { throw firstError }
        return results.map { $0! }
    }
}
