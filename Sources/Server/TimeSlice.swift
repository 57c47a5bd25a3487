/// How much uninterruptible work fits in a time slice: the backbone's image batches and text
/// parts are both sized this way, from a moving average of the cost per unit measured on the
/// work run so far, so that what is queued behind them waits about one slice.
struct TimeSlice: Sendable {
    let length: Duration
    /// Units before anything has been measured, and the most in one slice.
    let firstUnits: Int
    let maxUnits: Int
    /// Seconds per unit of the last runs (moving average); nil before the first.
    private(set) var secondsPerUnit: Double?

    init(length: Duration, firstUnits: Int, maxUnits: Int) {
        self.length = length
        self.firstUnits = firstUnits
        self.maxUnits = max(1, maxUnits)
    }

    /// Units that fit in `length` at the measured cost: at least one, at most `maxUnits`.
    var units: Int { units(within: length) }

    /// Units that fit in `length` (another slice's) at the measured cost.
    func units(within length: Duration) -> Int {
        guard let secondsPerUnit, secondsPerUnit > 0 else { return firstUnits }
        let fitting = length.seconds / secondsPerUnit
        return fitting >= Double(maxUnits) ? maxUnits : max(1, Int(fitting))
    }

    /// Folds one run of `units` that took `elapsed` into the cost per unit. The cost per unit
    /// falls with the run's size, so estimates from small runs err towards small ones.
    mutating func record(_ elapsed: Duration, units: Int) {
        let sample = elapsed.seconds / Double(max(1, units))
        secondsPerUnit = secondsPerUnit.map { 0.7 * $0 + 0.3 * sample } ?? sample
    }
}
