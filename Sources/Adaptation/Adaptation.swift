// RAda adaptation engine.
import Numerics
