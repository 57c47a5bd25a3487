import Foundation

/// How evenly a batch's mean prediction q̄ spreads over the K classes: H(q̄)/log K, 1 for a batch
/// that covers them uniformly, near 0 for a run of one class. The prior correction reads it (K > 1).
enum Coverage {
    static func of(meanPrediction q: [Double]) -> Double {
        -q.reduce(0.0) { $1 > 0 ? $0 + $1 * Foundation.log($1) : $0 } / Foundation.log(Double(q.count))
    }
}
