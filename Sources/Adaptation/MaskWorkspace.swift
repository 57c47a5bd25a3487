import RadaNumerics

/// Scratch memory for one chunk of images: sized by the chunk, never by the batch, so a step's
/// peak memory does not grow with B. Given back to the scratch pool when the workspace goes out
/// of scope.
final class MaskWorkspace<T: RAdaScalar> {
    let chunkImages: Int
    let rows: Int
    /// `s·R` for the chunk (rows×D).
    let x: UnsafeMutablePointer<T>
    /// `[Q3(sR) | Kp(sR) | Vp(sR)]` (rows×3D).
    let qkv: UnsafeMutablePointer<T>
    /// Head outputs concatenated (rows×D).
    let y: UnsafeMutablePointer<T>
    /// `O(y)`, then the mask `M = relu(1 + O(y))` in place (rows×D).
    let mask: UnsafeMutablePointer<T>
    /// Per-head scratch, one set per lane of heads that run at once (`MaskNetwork.headLanes`).
    let lanes: [HeadScratch<T>]
    /// Backward only: ∂U (rows×D), ∂y (rows×D), ∂[q3|κ|v] (rows×3D).
    let gradU: UnsafeMutablePointer<T>?
    let gradY: UnsafeMutablePointer<T>?
    let gradQKV: UnsafeMutablePointer<T>?
    /// Ones, for bias broadcasts and column sums through GEMM.
    let ones: UnsafeMutablePointer<T>
    private var allocations: [(UnsafeMutablePointer<T>, Int)] = []

    /// Where the buffers come from and go back to. At K = 1000, D = 512 with two head lanes a
    /// step's workspace is about 47 MB; allocated and zeroed afresh for every forward pass, it
    /// cost page faults and a memset on every request. Pooled, nothing is cleared between uses:
    /// every buffer is written before it is read (the column sums' row is zeroed where it is
    /// used), and `ones` is filled here.
    private static var pool: ScratchPool { .shared }

    init(chunkImages: Int, classes k: Int, dimension d: Int, backward: Bool, lanes laneCount: Int = 1) {
        self.chunkImages = chunkImages
        rows = chunkImages * k
        func make(_ count: Int) -> UnsafeMutablePointer<T> {
            Self.pool.take(T.self, count: max(count, 1))
        }
        x = make(rows * d)
        qkv = make(rows * 3 * d)
        y = make(rows * d)
        mask = make(rows * d)
        let lanes = (0..<max(1, laneCount)).map { _ in
            HeadScratch(sigma2: make(k * k), sigma3: make(k * k), gradP: make(backward ? k * k : 0), pi: make(k), gradPi: make(k), headRow: make(d))
        }
        self.lanes = lanes
        gradU = backward ? make(rows * d) : nil
        gradY = backward ? make(rows * d) : nil
        gradQKV = backward ? make(rows * 3 * d) : nil
        ones = make(max(rows, k))
        ones.update(repeating: 1, count: max(rows, k))
        allocations = [(x, rows * d), (qkv, rows * 3 * d), (y, rows * d), (mask, rows * d), (ones, max(rows, k))]
        for lane in lanes {
            allocations += [(lane.sigma2, k * k), (lane.sigma3, k * k), (lane.gradP, backward ? k * k : 0), (lane.pi, k), (lane.gradPi, k), (lane.headRow, d)]
        }
        for p in [gradU, gradY] { if let p { allocations.append((p, rows * d)) } }
        if let gradQKV { allocations.append((gradQKV, rows * 3 * d)) }
    }

    /// Bytes held by this workspace.
    var byteCount: Int { allocations.reduce(0) { $0 + max($1.1, 1) * MemoryLayout<T>.stride } }

    deinit {
        for (p, count) in allocations { Self.pool.give(p, count: max(count, 1)) }
    }
}

/// Scratch of one head at a time: what heads running in parallel must not share.
struct HeadScratch<T: RAdaScalar> {
    /// Flat-softmax weights of queries 2 and 3 for one image and head (K×K each), and a third
    /// K×K buffer for the gradient of P in the backward pass.
    let sigma2: UnsafeMutablePointer<T>
    let sigma3: UnsafeMutablePointer<T>
    let gradP: UnsafeMutablePointer<T>
    /// Query 1's softmax row π (K) and its gradient (K).
    let pi: UnsafeMutablePointer<T>
    let gradPi: UnsafeMutablePointer<T>
    /// A row of d values (π·v in the forward pass, column sums of ∂y in the backward pass).
    let headRow: UnsafeMutablePointer<T>
}
