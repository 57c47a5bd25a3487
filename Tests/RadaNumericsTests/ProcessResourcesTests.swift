import Foundation
import Testing
@testable import RadaNumerics

@Suite("Process resources from /proc")
struct ProcessResourcesTests {
    @Test("resident and peak sizes are read in bytes; touching 64 MiB after a reset raises the peak by about that")
    func residentAndPeak() throws {
        let resident = try #require(ProcessResources.residentBytes)
        #expect(resident > 1 << 20, "a Swift test process holds more than 1 MiB")
        #expect(try #require(ProcessResources.peakResidentBytes) >= resident)
        try ProcessResources.resetPeak()
        let before = try #require(ProcessResources.residentBytes)
        let count = 64 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 4096)
        defer { buffer.deallocate() }
        for page in stride(from: 0, to: count, by: 4096) { buffer.storeBytes(of: UInt8(1), toByteOffset: page, as: UInt8.self) }
        let peak = try #require(ProcessResources.peakResidentBytes)
        // Other tests run alongside, so the growth can only look larger.
        #expect(peak - before >= 60 << 20, "peak grew by \(peak - before) bytes after touching 64 MiB")
        #expect(ProcessResources.statusBytes("NoSuchField") == nil)
    }

    @Test("CPU time advances with work")
    func cpuTime() {
        let start = ProcessResources.cpuSeconds()
        var x = 0.0
        for i in 0..<5_000_000 { x += Double(i).squareRoot() }
        #expect(x > 0)
        #expect(ProcessResources.cpuSeconds() > start)
    }
}
