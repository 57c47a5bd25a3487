import Adaptation
import RadaNumerics

/// RAda through the engine's `StreamState`: the mask adapted online by its unlabelled objective
/// ("rada"), or by cross-entropy with the true labels ("oracle", predict-then-adapt: the upper
/// bound of what the mask can give; not a method a user can run).
public struct RAdaMethod: TTAMethod {
    public let name: String
    /// Whether the steps use the true labels.
    public let usesLabels: Bool
    public private(set) var state: StreamState

    /// - Parameter state: a fresh stream (its hyper-parameters decide the policy and objective).
    public init(state: StreamState, oracle: Bool = false, name: String? = nil) {
        self.state = state
        self.usesLabels = oracle
        self.name = name ?? (oracle ? "oracle" : "rada")
    }

    public mutating func process(features: Matrix, labels: [Int]) throws -> Matrix {
        try state.process(features, adapt: true, labels: usesLabels ? labels : nil).logits
    }

    public mutating func reset() { state.reset() }

    public var stateSummary: [(name: String, value: Double)] { state.summary.named }
}
