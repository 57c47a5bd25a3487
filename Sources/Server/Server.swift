import CLIP
import Adaptation
import Hummingbird
// Placeholder until the server lands.
enum ServerModule {}
