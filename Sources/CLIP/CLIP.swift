import Numerics
// Placeholder until the backbone lands.
enum CLIPModule {}
