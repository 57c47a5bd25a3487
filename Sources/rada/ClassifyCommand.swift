import ArgumentParser
import CLIP
import Foundation
import RadaNumerics

/// `rada classify`: zero-shot CLIP classification with prompt ensembling.
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify", abstract: "Zero-shot classification of image files over a set of labels.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "Comma-separated labels. Default: the model's own labels (prompts.json).")
    var labels: String?
    @Option(name: .long, help: "Prompt template with {} for the label (repeatable; \"{}\" uses each label as it is). Default: the model's ensemble.")
    var template: [String] = []
    @Option(name: .long, help: "How many classes to print per image.") var top: Int = 1
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Image files (PNG or JPEG).") var files: [String]

    struct Output: Encodable {
        struct Choice: Encodable { var label: String; var probability: Float }
        struct Result: Encodable { var file: String; var top: [Choice] }
        var results: [Result]
    }

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one image file") }
        if top < 1 { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        let encoder = try modelOptions.loadEncoder()
        let labelList: [String]
        if let labels {
            labelList = labels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } else if let own = encoder.prompts?.labels {
            labelList = own
        } else {
            throw ValidationError("--labels is required: this model ships no labels of its own")
        }
        let classes = try ClassSet.templated(labels: labelList, templates: template.isEmpty ? encoder.defaultTemplates : template)
        let images = try decodeImages(files)
        let probabilities = ZeroShot.probabilities(
            ZeroShot.logits(images: encoder.embed(images: images), classes: try encoder.classEmbeddings(classes),
                            logitScale: encoder.logitScale))
        let output = Output(results: files.indices.map { i in
            .init(file: files[i], top: ZeroShot.top(probabilities, row: i, k: top).map {
                .init(label: classes.labels[$0.index], probability: $0.probability)
            })
        })
        if json { return try printJSON(output) }
        for result in output.results {
            let choices = result.top.map { "\($0.label) \(String(format: "%.4f", $0.probability))" }
            print("\(result.file)\t\(choices.joined(separator: "\t"))")
        }
    }
}
