import RadaNumerics
// Placeholder until the engine lands.
enum AdaptationModule {}
