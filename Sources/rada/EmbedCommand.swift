import ArgumentParser
import CLIP
import RadaNumerics

/// `rada embed`: L2-normalised CLIP embeddings of images and texts.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Print one L2-normalised embedding per image and per text.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "A text to embed (repeatable).") var text: [String] = []
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Image files (PNG or JPEG).") var files: [String] = []

    struct Output: Encodable {
        struct Image: Encodable { var file: String; var embedding: [Float] }
        struct Text: Encodable { var text: String; var embedding: [Float] }
        var images: [Image]
        var texts: [Text]
    }

    func validate() throws {
        if files.isEmpty && text.isEmpty { throw ValidationError("give at least one image file or --text") }
    }

    func run() throws {
        let encoder = try modelOptions.loadEncoder()
        let images = try decodeImages(files)
        let imageEmbeddings = encoder.embed(images: images)
        let textEmbeddings = try encoder.embed(texts: text)
        let output = Output(
            images: files.indices.map { .init(file: files[$0], embedding: imageEmbeddings.row($0)) },
            texts: text.indices.map { .init(text: text[$0], embedding: textEmbeddings.row($0)) })
        if json { return try printJSON(output) }
        for image in output.images { print("\(image.file)\t\(image.embedding.map { "\($0)" }.joined(separator: " "))") }
        for text in output.texts { print("\(text.text)\t\(text.embedding.map { "\($0)" }.joined(separator: " "))") }
    }
}
