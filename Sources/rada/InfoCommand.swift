import ArgumentParser
import RadaNumerics

/// `rada info`: what this process would compute with (BLAS library and kernels, threads).
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Print the BLAS library, its kernel family and thread count.")

    func run() throws {
        try BLAS.load()
        let info = BLAS.info
        print("blas.library: \(info.library)")
        print("blas.core: \(info.coreName)")
        print("blas.core_chosen_by: \(info.chosenCoreType.map { "rada (\($0))" } ?? "user or library")")
        print("blas.threads: \(info.threads)")
        print("blas.caller_thread_library: \(info.callerThreadLibrary ?? "none (install libopenblas0-serial: without it a step's heads run one after another)")")
    }
}
