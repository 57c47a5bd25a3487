import Numerics
// Placeholder until the engine lands.
enum AdaptationModule {}
