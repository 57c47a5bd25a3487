/// The gates' shared shape: 0 up to `threshold`, rising linearly to 1 over `width` (a step at
/// `threshold` when `width` is 0). Centring's running gate, the prior correction's batch gate
/// and its coverage share (one minus it) are all this ramp.
enum Ramp {
    static func rising(_ x: Double, threshold: Double, width: Double) -> Double {
        if x <= threshold { return 0 }
        if width <= 0 { return 1 }
        return min(1, (x - threshold) / width)
    }
}
