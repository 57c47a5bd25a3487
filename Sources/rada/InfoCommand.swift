import ArgumentParser
import CLIP
import RadaNumerics

/// `rada info`: what this process would compute with (BLAS library and kernels, threads).
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Print the CPU, the towers' precision and kernel, their fp32 and attention kernels (and why), the BLAS library, its kernel family and thread count.")

    @Option(help: "The precision to explain: auto, fp32, bf16 or fp16. Default: RADA_PRECISION, else auto.") var precision: String?

    func run() throws {
        try BLAS.load()
        let info = BLAS.info
        let choice = try TowerPrecision.resolve(flag: precision)
        print("cpu.model: \(CPUModel.name)")
        if let limit = CPUModel.limit { print("cpu.limit: \(limit) (RADA_CPU_LIMIT: kernels above it are not used)") }
        let kernels = BF16PackedMatrix.Kernel.available
        print("cpu.bf16_kernels: \(kernels.isEmpty ? "none" : kernels.map(\.rawValue).joined(separator: ", "))")
        print("cpu.fp16_kernels: \(FP16PackedMatrix.isAvailable ? FP16PackedMatrix.kernelName : "none")")
        print("towers.precision: \(choice.precision)")
        print("towers.precision_reason: \(choice.reason)")
        let fp32 = try FP32Kernel.resolve()
        print("cpu.fp32_kernels: \(PackedMatrix.Kernel.available.map(\.rawValue).joined(separator: ", "))")
        print("towers.fp32_kernel: \(fp32.kernel)")
        print("towers.fp32_kernel_reason: \(fp32.reason)")
        let attention = Kernels.attentionHeadKernel(headWidth: Kernels.attentionHeadWidth)
        let fp32Head = attention.map { "fused head on \($0)" } ?? "two products per head on the caller-thread library"
        let head = choice.precision.attentionHeadBF16Kernel().map { "bf16 head on \($0)" } ?? fp32Head
        print("towers.attention_kernel: \(head) (64-wide heads, every CLIP tower's)")
        print("blas.library: \(info.library)")
        print("blas.core: \(info.coreName)")
        print("blas.core_chosen_by: \(info.chosenCoreType.map { "rada (\($0))" } ?? "user or library")")
        print("blas.threads: \(info.threads)")
        print("blas.thread_timeout: \(info.threadTimeout) (idle OpenBLAS threads spin 2^\(info.threadTimeout) cycles before sleeping; "
              + (info.threadTimeoutChosen ? "rada's choice, OPENBLAS_THREAD_TIMEOUT sets another)" : "OPENBLAS_THREAD_TIMEOUT)"))
        let budget = CPUBudget.current
        let quota = budget.quota.map { "a CFS quota of \(String(format: "%.2f", $0)) CPUs (\(budget.quotaFile ?? "?"))" } ?? "no CFS quota"
        print("cpu.budget: \(budget.cores) (\(budget.affinity) cores in the affinity mask, \(quota))")
        print("kernel_threads.max: \(BLAS.kernelThreadLimit) (the CPU budget, the caller's thread included)")
        print("kernel_threads.spin_us: \(BLAS.kernelThreadSpinMicroseconds) (after a job, before sleeping; RADA_POOL_SPIN_US)")
        print("blas.caller_thread_library: \(info.callerThreadLibrary ?? "none (install libblis4-serial: without it a step's heads run one after another)")")
        if let config = info.callerThreadConfig {
            print("blas.caller_thread_config: \(config) (BLIS's kernel family; BLIS_ARCH_TYPE chooses another)")
        }
    }
}
