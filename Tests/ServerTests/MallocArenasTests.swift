import Testing
@testable import Server

@Suite("The malloc arena cap rada serve sets")
struct MallocArenasTests {
    @Test("One arena per eight cores, at least one, and glibc accepts each cap")
    func capPerCores() {
        #expect(MallocArenas.cap(cores: 1) == 1)
        #expect(MallocArenas.cap(cores: 2) == 1)
        #expect(MallocArenas.cap(cores: 15) == 1)
        #expect(MallocArenas.cap(cores: 16) == 2)
        // Last, so the test process is left with 16 arenas: glibc's default on two cores.
        #expect(MallocArenas.cap(cores: 128) == 16)
    }
}
