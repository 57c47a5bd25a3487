import RadaNumerics
// Placeholder until the backbone lands.
enum CLIPModule {}
