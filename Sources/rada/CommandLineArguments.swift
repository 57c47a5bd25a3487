/// Arguments as the user meant them, before ArgumentParser sees them.
enum CommandLineArguments {
    /// ArgumentParser finds the `=` of `--name=value` by Character, so a value that starts with
    /// a combining or joining scalar (U+0301, U+FE0F, U+200D, U+1F3FB) merges with the `=` into
    /// one Character and the option is not recognised. Such an argument is passed as
    /// `--name value` instead (the value cannot start with `-`: it starts with that scalar).
    /// Nothing after `--` is touched.
    static func normalized(_ arguments: [String]) -> [String] {
        var out: [String] = []
        out.reserveCapacity(arguments.count + 1)
        var terminated = false
        for argument in arguments {
            defer { terminated = terminated || argument == "--" }
            let scalars = argument.unicodeScalars
            guard !terminated, argument.hasPrefix("--"), let equals = scalars.firstIndex(of: "="),
                  argument.firstIndex(of: "=") != equals
            else {
                out.append(argument)
                continue
            }
            out.append(String(scalars[..<equals]))
            out.append(String(scalars[scalars.index(after: equals)...]))
        }
        return out
    }
}
