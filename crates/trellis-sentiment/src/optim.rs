//! Limited-memory BFGS for smooth convex objectives. Full-batch and single-threaded on
//! purpose: the optimum of a strictly convex objective does not depend on example order
//! or thread timing, so training is reproducible bit for bit.

pub(crate) struct LbfgsOptions {
    pub(crate) memory: usize,
    pub(crate) max_iterations: usize,
    /// Stop when the relative decrease of the objective over one iteration is below this.
    pub(crate) f_tolerance: f64,
    /// Stop when ‖g‖ / max(1, ‖x‖) is below this.
    pub(crate) g_tolerance: f64,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions {
            memory: 10,
            max_iterations: 500,
            f_tolerance: 1e-10,
            g_tolerance: 1e-6,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LbfgsOutcome {
    pub(crate) iterations: usize,
    pub(crate) objective: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimizes `f` starting from `x` (updated in place). `f(x, grad)` returns the objective
/// and writes the gradient.
pub(crate) fn minimize(
    x: &mut [f64],
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    opts: &LbfgsOptions,
) -> LbfgsOutcome {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho_hist: Vec<f64> = Vec::new();
    let mut d = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut alpha = vec![0.0; opts.memory];
    let mut iterations = 0;

    while iterations < opts.max_iterations {
        let gnorm = dot(&g, &g).sqrt();
        if gnorm / dot(x, x).sqrt().max(1.0) < opts.g_tolerance {
            break;
        }
        iterations += 1;

        // Two-loop recursion: d = -H·g.
        d.copy_from_slice(&g);
        for i in (0..s_hist.len()).rev() {
            alpha[i] = rho_hist[i] * dot(&s_hist[i], &d);
            for (dj, yj) in d.iter_mut().zip(&y_hist[i]) {
                *dj -= alpha[i] * yj;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0 / gnorm,
        };
        for dj in d.iter_mut() {
            *dj *= gamma;
        }
        for i in 0..s_hist.len() {
            let beta = rho_hist[i] * dot(&y_hist[i], &d);
            for (dj, sj) in d.iter_mut().zip(&s_hist[i]) {
                *dj += (alpha[i] - beta) * sj;
            }
        }
        for dj in d.iter_mut() {
            *dj = -*dj;
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            for (dj, gj) in d.iter_mut().zip(&g) {
                *dj = -gj / gnorm;
            }
            slope = dot(&g, &d);
        }

        // Backtracking line search with the Armijo condition.
        let mut step = 1.0;
        let mut f_new;
        let mut tries = 0;
        loop {
            for j in 0..n {
                x_new[j] = x[j] + step * d[j];
            }
            f_new = f(&x_new, &mut g_new);
            if f_new <= fx + 1e-4 * step * slope || tries >= 40 {
                break;
            }
            step *= 0.5;
            tries += 1;
        }
        if f_new > fx {
            break; // No progress possible at machine precision.
        }

        // Reuse the oldest pair's buffers once the history is full.
        let (mut s, mut y) = if s_hist.len() == opts.memory {
            rho_hist.remove(0);
            (s_hist.remove(0), y_hist.remove(0))
        } else {
            (vec![0.0; n], vec![0.0; n])
        };
        for j in 0..n {
            s[j] = x_new[j] - x[j];
            y[j] = g_new[j] - g[j];
        }
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            rho_hist.push(1.0 / sy);
            s_hist.push(s);
            y_hist.push(y);
        }
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let decrease = (fx - f_new) / fx.abs().max(1.0);
        fx = f_new;
        if decrease < opts.f_tolerance {
            break;
        }
    }
    LbfgsOutcome {
        iterations,
        objective: fx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quadratic_bowl_is_minimized_at_its_centre() {
        let centre = [3.0, -2.0, 0.5];
        let mut x = vec![0.0; 3];
        let out = minimize(
            &mut x,
            |x, g| {
                let mut f = 0.0;
                for i in 0..3 {
                    let d = x[i] - centre[i];
                    f += (i as f64 + 1.0) * d * d;
                    g[i] = 2.0 * (i as f64 + 1.0) * d;
                }
                f
            },
            &LbfgsOptions::default(),
        );
        for i in 0..3 {
            assert!((x[i] - centre[i]).abs() < 1e-5, "{x:?}");
        }
        assert!(out.objective < 1e-9);
    }

    #[test]
    fn the_rosenbrock_valley_is_followed_to_its_minimum() {
        let mut x = vec![-1.2, 1.0];
        minimize(
            &mut x,
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            &LbfgsOptions {
                max_iterations: 1000,
                f_tolerance: 0.0,
                g_tolerance: 1e-9,
                ..LbfgsOptions::default()
            },
        );
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4,
            "{x:?}"
        );
    }
}
