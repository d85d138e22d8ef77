import Foundation

/// softplus(a) = log(1 + e^a): how GPyTorch keeps positive hyper-parameters positive while Adam works on
/// unconstrained raw values.
enum Softplus {
    static func value(_ a: Double) -> Double {
        // Written so that neither branch overflows or loses the small tail.
        a > 0 ? a + log1p(exp(-a)) : log1p(exp(a))
    }

    /// d softplus / da = sigmoid(a).
    static func derivative(_ a: Double) -> Double {
        a >= 0 ? 1 / (1 + exp(-a)) : exp(a) / (1 + exp(a))
    }

    /// The raw value whose softplus is `y` (> 0).
    static func inverse(_ y: Double) -> Double {
        y > 30 ? y + log(-expm1(-y)) : log(expm1(y))
    }
}
