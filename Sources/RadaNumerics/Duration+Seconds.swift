extension Duration {
    /// The duration in seconds as a Double (what timings are printed and compared in).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
