import Testing
@testable import CLIP

@Suite struct ClassSetTests {
    @Test func templatesPutEachLabelInPlace() throws {
        let set = try ClassSet.templated(labels: ["cat", "dog"], templates: ["a photo of a {}.", "{}", "art of"])
        #expect(set.prompts == [["a photo of a cat.", "cat", "art of cat"], ["a photo of a dog.", "dog", "art of dog"]])
    }

    @Test func refusesBadClassSetsWithAReason() {
        #expect(throws: ClassSetError.noLabels) { try ClassSet.templated(labels: [], templates: ["{}"]) }
        #expect(throws: ClassSetError.duplicateLabel("cat")) { try ClassSet.templated(labels: ["cat", "cat"], templates: ["{}"]) }
        #expect(throws: ClassSetError.noTemplates) { try ClassSet.templated(labels: ["cat"], templates: []) }
        #expect(throws: ClassSetError.noPrompts("cat")) { try ClassSet(labels: ["cat"], prompts: [[]]) }
        #expect(throws: ClassSetError.promptCountMismatch(labels: 2, prompts: 1)) {
            try ClassSet(labels: ["a", "b"], prompts: [["a"]])
        }
        #expect("\(ClassSetError.duplicateLabel("cat"))".contains("unique"))
    }
}
