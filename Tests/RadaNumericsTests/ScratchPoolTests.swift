import Testing
@testable import RadaNumerics

/// The pool that keeps the towers' large scratch buffers between passes.
@Suite struct ScratchPoolTests {
    @Test func sizeClassesArePowersOfTwoFrom64KiB() {
        #expect(ScratchPool.sizeClass(bytes: 1) == nil)
        #expect(ScratchPool.sizeClass(bytes: (64 << 10) - 1) == nil)
        #expect(ScratchPool.sizeClass(bytes: 64 << 10) == 64 << 10)
        #expect(ScratchPool.sizeClass(bytes: (64 << 10) + 1) == 128 << 10)
        #expect(ScratchPool.sizeClass(bytes: 4_915_200) == 8 << 20)  // a batch-8 ViT-B/32 MLP buffer
    }

    @Test("a returned buffer is handed out again for any size of its class, and held bytes are counted")
    func reusesBuffers() {
        let pool = ScratchPool(limitBytes: 1 << 20)
        let a = pool.take(Float.self, count: 20_000)  // 80 000 bytes: the 128 KiB class
        a.initialize(repeating: 1, count: 20_000)
        pool.give(a, count: 20_000)
        #expect(pool.heldBytes == 128 << 10)
        let b = pool.take(UInt16.self, count: 60_000)  // 120 000 bytes: the same class
        #expect(UnsafeMutableRawPointer(b) == UnsafeMutableRawPointer(a))
        #expect(pool.heldBytes == 0)
        let c = pool.take(Float.self, count: 20_000)  // the class is empty again: a new buffer
        #expect(UnsafeMutableRawPointer(c) != UnsafeMutableRawPointer(b))
        #expect(Int(bitPattern: UnsafeMutableRawPointer(c)) % 64 == 0)
        pool.give(b, count: 60_000)
        pool.give(c, count: 20_000)
        #expect(pool.heldBytes == 256 << 10)
    }

    @Test("the free lists never hold more than the limit, and small buffers are not pooled")
    func boundedByItsLimit() {
        let pool = ScratchPool(limitBytes: 300 << 10)
        let buffers = (0..<4).map { _ in pool.take(Float.self, count: 30_000) }  // 128 KiB class each
        for buffer in buffers { pool.give(buffer, count: 30_000) }
        #expect(pool.heldBytes == 256 << 10)  // a third would pass 300 KiB: freed instead
        let small = pool.take(Float.self, count: 100)
        pool.give(small, count: 100)
        #expect(pool.heldBytes == 256 << 10)
    }
}
