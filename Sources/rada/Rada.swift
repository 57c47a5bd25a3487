import ArgumentParser

/// The `rada` command line: thin; all work happens in the libraries.
@main
struct Rada: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rada",
        abstract: "RAdaServe: CLIP classification that adapts online per stream (RAda).",
        subcommands: [
            ServeCommand.self, ClassifyCommand.self, EmbedCommand.self, BenchCommand.self, CorruptCommand.self,
            InfoCommand.self, BenchBLASCommand.self, BenchBackboneCommand.self, BenchAdaptCommand.self, BenchRequestCommand.self,
            ClusterConfigCommand.self,
        ]
    )

    static func main() async {
        await main(CommandLineArguments.normalized(Array(CommandLine.arguments.dropFirst())))
    }
}
