import ArgumentParser

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

    /// Splits a variant flag's `NAME=…` at its first `=`; NAME must not be one of `reserved`
    /// (the names a command already gives its own rows).
    static func named(_ text: String, flag: String, form: String, reserved: [String]) throws -> (name: String, rest: Substring) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw ValidationError("\(flag) must be \(form), got '\(text)'")
        }
        let name = String(text[..<equals])
        if reserved.contains(name) { throw ValidationError("\(flag) name \(name) is taken") }
        return (name, text[text.index(after: equals)...])
    }
}
