import Foundation

/// libFuzzer entry for the CLIP tokenizer (client text becomes class names, prompts and
/// templates): any bytes, read as UTF-8 text, must tokenize without crashing, trapping or reading
/// out of bounds into start, at most 75 ids and end; and the same bytes, taken as one BPE word,
/// must get the same ids from the ranked queue as from CLIP's loop. Built by `make fuzz-tokenizer`
/// with the tokenizer's own sources; the vocabulary is CLIP's (Tests/Fixtures/clip-vocab).
private let tokenizer: CLIPTokenizer = {
    let directory = URL(fileURLWithPath: ProcessInfo.processInfo.environment["RADA_FUZZ_VOCAB"] ?? "../Tests/Fixtures/clip-vocab")
    do {
        return try CLIPTokenizer(vocabURL: directory.appendingPathComponent("vocab.json"), mergesURL: directory.appendingPathComponent("merges.txt"))
    } catch { fatalError("cannot load the vocabulary from \(directory.path): \(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let ids = tokenizer.encode(String(decoding: bytes, as: UTF8.self), contextLength: 77)
    precondition(ids.count >= 2 && ids.count <= 77, "\(ids.count) ids")
    precondition(ids.first == tokenizer.startOfText && ids.last == tokenizer.endOfText, "not framed by start and end")
    if !bytes.isEmpty {
        var byRounds: [Int] = [], byQueue: [Int] = []
        tokenizer.bpe.encodeByRounds(bytes, into: &byRounds)
        tokenizer.bpe.encodeByQueue(bytes, into: &byQueue)
        precondition(byRounds == byQueue, "the queue's ids differ from the loop's")
    }
    return 0
}
