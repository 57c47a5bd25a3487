import Numerics
let info = BLAS.info
print("BLAS \(info.library) core \(info.coreName)")
