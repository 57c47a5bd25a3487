/// CLIP's text clean-up before tokenisation (OpenAI's `simple_tokenizer`): `basic_clean` is
/// `ftfy.fix_text` (`TextFixer`), `html.unescape` twice (full HTML5 entity set) and `strip()`;
/// `whitespace_clean` turns each run of `regex`'s `\s` into a space and strips; then `lower()`.
enum CLIPTextCleaner {
    static func clean(_ text: String) -> [Unicode.Scalar] {
        var scalars = Array(text.unicodeScalars)
        if needsFixing(scalars) {
            scalars = TextFixer.fixText(scalars)
            scalars = HTMLEntities.pythonUnescape(HTMLEntities.pythonUnescape(scalars))
        }
        return PythonText.lowercased(PythonText.collapseWhitespace(PythonText.strip(scalars)))
    }

    /// Plain ASCII prompts without `&`, ESC or controls that ftfy deletes come through ftfy and
    /// `html.unescape` unchanged (`\r` only turns into `\n`, which is whitespace either way).
    private static func needsFixing(_ scalars: [Unicode.Scalar]) -> Bool {
        scalars.contains { scalar in
            !scalar.isASCII || scalar == "&" || TextFixer.isUnwantedControl(scalar)
        }
    }
}
