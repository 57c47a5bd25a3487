import Foundation
import SafeTensors
@testable import Adaptation

/// One case written by `tools/rada_reference.py fixtures`: inputs, parameters, and the expected
/// forward logits, losses, gradients and optimiser results of each loss configuration.
struct ReferenceFixture {
    struct Configuration {
        var name: String
        var objective: AdaptationObjective
        var crossEntropy: Bool
        var optimizer: OptimizerSettings?
        var steps: Int
    }

    let file: SafeTensorsFile
    let batch: Int, classes: Int, dimension: Int, heads: Int
    let logitScale: Double, temperature: Double
    let labels: [Int]
    let configurations: [Configuration]

    init(_ name: String) throws {
        let data = try Data(contentsOf: Fixtures.url("rada/\(name).safetensors"))
        file = try SafeTensorsFile(data: data, source: "rada/\(name).safetensors")
        let json = try JSONSerialization.jsonObject(with: Data(file.metadata["config"]!.utf8)) as! [String: Any]
        batch = json["B"] as! Int
        classes = json["K"] as! Int
        dimension = json["D"] as! Int
        heads = json["heads"] as! Int
        logitScale = (json["s"] as! NSNumber).doubleValue
        temperature = (json["tau"] as! NSNumber).doubleValue
        labels = json["labels"] as! [Int]
        configurations = (json["configs"] as! [[String: Any]]).map { c in
            let number = { (key: String) in (c[key] as? NSNumber)?.doubleValue }
            let objective = AdaptationObjective(
                entropyWeight: number("entropy_weight") ?? 1, confidenceThreshold: number("e0"),
                diversityWeight: number("diversity_weight") ?? 0,
                diversityMode: (c["anchor"] as? Bool ?? false) ? .runningAnchor : .batchMean,
                zeroShotAnchorWeight: number("zero_shot_anchor_weight") ?? 0, maskRegularization: number("alpha") ?? 0, fixedTemperature: c["fixed_temperature"] as? Bool ?? false)
            var optimizer: OptimizerSettings? = nil
            if let o = c["optimizer_settings"] as? [String: Any] {
                optimizer = OptimizerSettings(
                    kind: OptimizerKind(rawValue: o["kind"] as! String)!, learningRate: (o["lr"] as! NSNumber).doubleValue,
                    weightDecay: (o["weight_decay"] as! NSNumber).doubleValue, momentum: (o["momentum"] as! NSNumber).doubleValue)
            }
            return Configuration(
                name: c["name"] as! String, objective: objective, crossEntropy: c["cross_entropy"] as? Bool ?? false,
                optimizer: optimizer, steps: c["steps"] as? Int ?? 1)
        }
    }

    func tensor<T: RAdaScalar>(_ name: String, as: T.Type = T.self) throws -> [T] { try file.doubles(name).map { T($0) } }

    /// The parameters stored under `prefix` (e.g. "params." or "linf.after.") in the flat layout.
    func mask<T: RAdaScalar>(prefix: String, as: T.Type = T.self) throws -> RAdaMask<T> {
        var mask = RAdaMask<T>(dimension: dimension)
        for map in RAdaMap.allCases {
            let w: [T] = try file.doubles("\(prefix)\(map.tensorPrefix).weight", shape: [dimension, dimension]).map { T($0) }
            let b: [T] = try file.doubles("\(prefix)\(map.tensorPrefix).bias", shape: [dimension]).map { T($0) }
            mask.values.replaceSubrange(RAdaMask<T>.weightRange(map, dimension: dimension), with: w)
            mask.values.replaceSubrange(RAdaMask<T>.biasRange(map, dimension: dimension), with: b)
        }
        return mask
    }

    func network<T: RAdaScalar>(as: T.Type = T.self) throws -> MaskNetwork<T> {
        try MaskNetwork<T>(
            text: try tensor("inputs.text"), classes: classes, dimension: dimension, heads: heads,
            logitScale: T(logitScale), temperature: T(temperature))
    }
}

/// `max|a − b| / max|b|`: the error relative to the tensor's scale, so that entries near zero
/// do not dominate.
func relativeError<T: RAdaScalar>(_ a: ArraySlice<T>, _ b: ArraySlice<T>) -> Double {
    precondition(a.count == b.count)
    var worst = 0.0, scale = 0.0
    for (x, y) in zip(a, b) {
        worst = max(worst, abs(Double(x) - Double(y)))
        scale = max(scale, abs(Double(y)))
    }
    return scale == 0 ? worst : worst / scale
}
