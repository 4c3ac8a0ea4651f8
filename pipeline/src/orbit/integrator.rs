//! Which integrator a scenario's bodies are propagated with, and its one parameter.

/// The integrator and its one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Integrator {
    /// Dormand-Prince 8(5,3), adaptive; `tolerance` is both the relative and the
    /// absolute tolerance of Hairer's error norm.
    Dop853 { tolerance: f64 },
    /// Yoshida's fourth-order symplectic composition, fixed step.
    Yoshida4 { step_s: f64 },
    /// The classical Runge-Kutta method, fixed step.
    Rk4 { step_s: f64 },
}

impl Integrator {
    /// The method's name in the document.
    pub const fn method(&self) -> &'static str {
        match self {
            Integrator::Dop853 { .. } => "dop853",
            Integrator::Yoshida4 { .. } => "yoshida4",
            Integrator::Rk4 { .. } => "rk4",
        }
    }
}
