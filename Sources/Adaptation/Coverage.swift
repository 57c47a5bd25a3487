import Foundation
import RadaNumerics

/// How evenly a batch's mean prediction q̄ spreads over the K classes: H(q̄)/log K, 1 for a batch
/// that covers them uniformly, near 0 for a run of one class. The prior correction and the step
/// gate both read it (K > 1).
enum Coverage {
    static func of(meanPrediction q: [Double]) -> Double {
        -q.reduce(0.0) { $1 > 0 ? $0 + $1 * Foundation.log($1) : $0 } / Foundation.log(Double(q.count))
    }

    /// The coverage of the mean of the rows' softmax (`logits` B×K).
    static func of(logits: [Float], batch: Int, classes k: Int) -> Double {
        var mean = [Double](repeating: 0, count: k)
        for b in 0..<batch {
            let row = Kernels.softmax(logits: logits[(b * k)..<((b + 1) * k)])
            for c in 0..<k { mean[c] += row[c] / Double(batch) }
        }
        return of(meanPrediction: mean)
    }
}
