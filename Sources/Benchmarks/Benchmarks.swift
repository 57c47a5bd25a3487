import CLIP
import Adaptation
// Placeholder until the benchmark lands.
enum BenchmarksModule {}
