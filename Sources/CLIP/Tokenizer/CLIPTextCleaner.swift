/// CLIP's text clean-up before tokenisation (open_clip's `clean="lower"`, OpenAI's original):
/// `ftfy.fix_text` (see `TextFixer`), `html.unescape` twice (full HTML5 entity set), strip,
/// collapse whitespace, `lower()`.
enum CLIPTextCleaner {
    static func clean(_ text: String) -> [Unicode.Scalar] {
        var scalars = Array(text.unicodeScalars)
        if needsFixing(scalars) {
            scalars = TextFixer.fixText(scalars)
            scalars = HTMLEntities.pythonUnescape(HTMLEntities.pythonUnescape(scalars))
        }
        return PythonText.lowercased(PythonText.collapseWhitespace(scalars))
    }

    /// Plain ASCII prompts without `&`, ESC or controls that ftfy deletes come through ftfy and
    /// `html.unescape` unchanged (`\r` only turns into `\n`, which is whitespace either way).
    private static func needsFixing(_ scalars: [Unicode.Scalar]) -> Bool {
        scalars.contains { scalar in
            !scalar.isASCII || scalar == "&" || TextFixer.isUnwantedControl(scalar)
        }
    }
}
