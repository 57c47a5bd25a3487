// CLIP backbone: checkpoints, tokenizer, image codecs, towers.
import Numerics
