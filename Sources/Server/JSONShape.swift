import Foundation

/// A bound on a JSON body's shape, checked in one pass over its bytes before any parser builds
/// it: how deeply it nests and how many items (keys and values) it holds.
///
/// Why: `JSONDecoder` builds the whole document before a `Decodable` sees a field, so a count
/// checked afterwards (64 images, 1000 labels) comes too late. Five million empty strings in a
/// 15 MB body took 385 MB to parse before the count refused them (RSS 105 → 665 MB at 33 MB).
/// And nesting costs more than its bytes: a `JSONValue` (the hyper-parameters patch) 500 levels
/// deep took 0.8 s of CPU for a 1 kB body. With both bounded, a body's parsed form is its
/// strings plus a few dozen bytes per item.
///
/// The scan does not validate: a malformed body passes it and the parser refuses it.
struct JSONShape {
    var depth: Int
    var items: Int

    /// Nesting no request needs: hyper-parameter patches are three levels deep.
    static let maxDepth = 32

    /// Items of the largest body a JSON route takes within `limits`: labels with a full prompt
    /// list each (a key, an array and its prompts per label), templates, images, and room for
    /// every hyper-parameter and top-level field.
    static func maxItems(_ limits: ServerLimits) -> Int {
        let perLabel = limits.maxPromptsPerLabel.addingReportingOverflow(3).partialValue
        let labels = limits.maxLabelsPerStream.multipliedReportingOverflow(by: perLabel)
        let rest = limits.maxPromptsPerLabel.addingReportingOverflow(limits.maxImagesPerRequest).partialValue
        guard !labels.overflow else { return .max }
        return labels.partialValue.addingReportingOverflow(rest.addingReportingOverflow(4096).partialValue).partialValue
    }

    /// The body's shape, stopping as soon as it passes `maxDepth` or `maxItems` (the counts then
    /// say by how much it was passed first, not its whole shape).
    static func scan(_ body: UnsafeRawBufferPointer, maxDepth: Int, maxItems: Int) -> JSONShape {
        var shape = JSONShape(depth: 0, items: 0)
        guard let base = body.baseAddress else { return shape }
        let bytes = body.bindMemory(to: UInt8.self)
        let count = bytes.count
        var depth = 0
        // An item starts at the first byte that is not white space after `{`, `[`, `,` or `:`
        // (and at the start): every key and every value.
        var expectingItem = true
        var i = 0
        while i < count {
            let byte = bytes[i]
            switch byte {
            case 0x20, 0x0A, 0x0D, 0x09:
                i += 1
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: ","), UInt8(ascii: ":"):
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                    if expectingItem { shape.items += 1 }
                    depth += 1
                    shape.depth = max(shape.depth, depth)
                }
                expectingItem = true
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                expectingItem = false
                i += 1
            case UInt8(ascii: "\""):
                if expectingItem { shape.items += 1 }
                expectingItem = false
                // To the closing quote: the next one not escaped by an odd run of backslashes.
                // memchr, as base64 image strings make up nearly all of a large body.
                var from = i + 1
                while true {
                    guard let quote = memchr(base + from, Int32(UInt8(ascii: "\"")), count - from) else { return shape }
                    let at = base.distance(to: UnsafeRawPointer(quote))
                    var backslashes = 0
                    while at - backslashes - 1 > i, bytes[at - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
                    from = at + 1
                    if backslashes % 2 == 0 { break }
                }
                i = from
            default:
                if expectingItem { shape.items += 1 }
                expectingItem = false
                i += 1
            }
            if shape.depth > maxDepth || shape.items > maxItems { return shape }
        }
        return shape
    }

    /// Throws a 400 for nesting deeper than `maxDepth`, a 413 for more than `maxItems` items.
    static func check(_ body: UnsafeRawBufferPointer, maxDepth: Int = JSONShape.maxDepth, maxItems: Int) throws {
        let shape = scan(body, maxDepth: maxDepth, maxItems: maxItems)
        if shape.depth > maxDepth {
            throw APIError.badRequest("the JSON body nests deeper than \(maxDepth) levels")
        }
        if shape.items > maxItems {
            throw APIError.tooLarge("the JSON body holds more than \(maxItems) keys and values, more than any request needs")
        }
    }
}
