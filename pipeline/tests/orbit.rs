//! The physics of orbit scenarios (`docs/orbits.md`, "What the physics must show"):
//! the integrators against the exact Kepler solution over 1,000 orbits, and J2's
//! secular motion of the node against the first-order rate.
//! Accuracy is correctness here, so the bounds are asserted.

use nano_pipeline::orbit::accuracy::{self, AccuracyRow};
use nano_pipeline::orbit::{kepler, BodyPropagator, OrbitState};
use nano_pipeline::scenario::{
    OrbitScenario, Scenario, ScenarioLimits, EARTH_J2, EARTH_MU, EARTH_RADIUS_KM,
};

const ORBITS: u64 = 1000;

fn check(row: &AccuracyRow, energy: f64, position_m: f64) {
    assert!(
        row.max_rel_energy_err < energy,
        "{} e={}: relative energy error {:e} is not below {energy:e}",
        row.integrator,
        row.e,
        row.max_rel_energy_err
    );
    assert!(
        row.final_position_err_m < position_m,
        "{} e={}: position error after {} orbits {} m is not below {position_m} m",
        row.integrator,
        row.e,
        row.orbits,
        row.final_position_err_m
    );
}

#[test]
fn dop853_at_1e12_matches_kepler_over_a_thousand_orbits() {
    for (e, energy, position_m) in [(0.0, 1e-10, 10.0), (0.1, 1e-9, 100.0), (0.7, 1e-8, 5000.0)] {
        let row = accuracy::run("dop853", e, ORBITS).unwrap();
        assert_eq!(row.orbits, ORBITS);
        check(&row, energy, position_m);
    }
}

#[test]
fn yoshida4_keeps_energy_bounded_and_angular_momentum_exact() {
    for e in [0.0, 0.1] {
        let row = accuracy::run("yoshida4", e, ORBITS).unwrap();
        assert_eq!(
            row.steps,
            ORBITS * accuracy::STEPS_PER_ORBIT,
            "a thousandth of the period"
        );
        assert!(row.max_rel_energy_err < 1e-9, "e={e}: {row:?}");
        assert!(
            row.max_rel_energy_err_last_tenth <= 2.0 * row.max_rel_energy_err_first_tenth,
            "e={e}: the energy error grows: {:e} in the first tenth, {:e} in the last",
            row.max_rel_energy_err_first_tenth,
            row.max_rel_energy_err_last_tenth
        );
        assert!(
            row.max_rel_h_err < 1e-12,
            "e={e}: angular momentum error {:e}",
            row.max_rel_h_err
        );
        // Stricter than the 1e-12 above: with the increments added by compensated
        // summation, only the last bits move (1.1e-15 measured; 7.6e-14 without it).
        assert!(
            row.max_rel_h_err < 1e-14,
            "e={e}: angular momentum error {:e}: is the summation compensated?",
            row.max_rel_h_err
        );
    }
}

/// rk4 is no symplectic method: its energy drifts, and the report shows it.
#[test]
fn rk4_drifts_where_yoshida4_does_not() {
    let rk4 = accuracy::run("rk4", 0.1, ORBITS).unwrap();
    let yoshida4 = accuracy::run("yoshida4", 0.1, ORBITS).unwrap();
    assert!(
        rk4.max_rel_energy_err_last_tenth > 5.0 * rk4.max_rel_energy_err_first_tenth,
        "{rk4:?}"
    );
    assert!(rk4.max_rel_h_err > 1e3 * yoshida4.max_rel_h_err);
}

fn circular_j2(altitude_km: f64, i_deg: f64, step: f64) -> OrbitScenario {
    let doc = format!(
        r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass", "j2"],
            "integrator": {{"method": "dop853", "tolerance": 1e-11}}, "output_step_s": {step},
            "bodies": [{{"name": "probe", "elements": {{"a_km": {a}, "e": 0, "i_deg": {i_deg},
                         "raan_deg": 0, "argp_deg": 0, "nu_deg": 0}}}}]}}"#,
        a = EARTH_RADIUS_KM + altitude_km,
    );
    match Scenario::parse(&doc, &ScenarioLimits::default()).unwrap() {
        Scenario::Orbit(o) => o,
        Scenario::Nano { .. } => unreachable!(),
    }
}

/// The first-order secular rate of the node (`docs/orbits.md`), degrees per day.
fn secular_node_rate(a: f64, i_deg: f64) -> f64 {
    let n = (EARTH_MU / (a * a * a)).sqrt();
    let p = a; // circular
    (-1.5 * n * EARTH_J2 * (EARTH_RADIUS_KM / p).powi(2) * i_deg.to_radians().cos()).to_degrees()
        * 86_400.0
}

const SAMPLES_PER_ORBIT: u64 = 100;

/// The node's mean rate over 30 days, degrees per day. The osculating node
/// oscillates twice an orbit around its mean, so a snapshot would mislead: the run is
/// sampled 100 times per (Keplerian) period, the unwrapped node is averaged over each
/// whole orbit, and the rate is the least-squares slope of those orbit means.
fn measured_node_rate(scenario: &OrbitScenario, period: f64) -> f64 {
    let days = 30.0;
    let orbits = (days * 86_400.0 / period).floor() as u64;
    let mut states: Vec<OrbitState> = Vec::new();
    BodyPropagator::new(scenario, 0)
        .advance(orbits * SAMPLES_PER_ORBIT, &mut states)
        .unwrap();
    let mut previous = kepler::raan(&scenario.body(0).unwrap().state0);
    let mut unwrapped = Vec::with_capacity(states.len());
    let mut turns = 0.0;
    for s in &states {
        let node = kepler::raan(s);
        if node - previous > std::f64::consts::PI {
            turns -= std::f64::consts::TAU;
        } else if previous - node > std::f64::consts::PI {
            turns += std::f64::consts::TAU;
        }
        previous = node;
        unwrapped.push(node + turns);
    }
    let means: Vec<(f64, f64)> = unwrapped
        .chunks_exact(SAMPLES_PER_ORBIT as usize)
        .zip(states.chunks_exact(SAMPLES_PER_ORBIT as usize))
        .map(|(nodes, sts)| {
            let t = sts.iter().map(|s| s.t).sum::<f64>() / sts.len() as f64;
            (t, nodes.iter().sum::<f64>() / nodes.len() as f64)
        })
        .collect();
    let count = means.len() as f64;
    let (mt, mn) = means
        .iter()
        .fold((0.0, 0.0), |(a, b), (t, n)| (a + t / count, b + n / count));
    let (num, den) = means.iter().fold((0.0, 0.0), |(num, den), (t, n)| {
        (num + (t - mt) * (n - mn), den + (t - mt) * (t - mt))
    });
    let rate = (num / den).to_degrees() * 86_400.0;
    eprintln!("node rate over {orbits} orbits: {rate:.6} deg/day");
    rate
}

fn period(a: f64) -> f64 {
    std::f64::consts::TAU * (a * a * a / EARTH_MU).sqrt()
}

#[test]
fn j2_moves_the_node_of_a_53_degree_orbit_at_the_secular_rate() {
    let a = EARTH_RADIUS_KM + 550.0;
    let expected = secular_node_rate(a, 53.0);
    assert!(
        (expected + 4.49).abs() < 0.01,
        "docs/orbits.md quotes about -4.49 deg/day: {expected}"
    );
    let p = period(a);
    let measured = measured_node_rate(&circular_j2(550.0, 53.0, p / SAMPLES_PER_ORBIT as f64), p);
    assert!(
        ((measured - expected) / expected).abs() < 0.01,
        "node rate {measured} deg/day, docs/orbits.md's {expected} deg/day"
    );
}

#[test]
fn a_sun_synchronous_orbit_turns_its_node_with_the_sun() {
    let target = 0.9856;
    let altitude = 700.0;
    let a = EARTH_RADIUS_KM + altitude;
    // The inclination at which the secular rate is the Sun's mean motion.
    let per_cos = secular_node_rate(a, 0.0);
    let i_deg = (target / per_cos).acos().to_degrees();
    assert!(
        (i_deg - 98.19).abs() < 0.01,
        "docs/orbits.md quotes about 98.19 degrees at 700 km: {i_deg}"
    );
    let p = period(a);
    let measured = measured_node_rate(
        &circular_j2(altitude, i_deg, p / SAMPLES_PER_ORBIT as f64),
        p,
    );
    assert!(
        ((measured - target) / target).abs() < 0.01,
        "node rate {measured} deg/day at i = {i_deg}, the Sun's {target} deg/day"
    );
}

/// Without J2 the node stands still: the rate above is J2's, not the method's.
#[test]
fn without_j2_the_node_stands_still() {
    let a = EARTH_RADIUS_KM + 550.0;
    let p = period(a);
    let doc = circular_j2(550.0, 53.0, p / SAMPLES_PER_ORBIT as f64);
    let point_mass = Scenario::parse(
        &Scenario::Orbit(doc)
            .canonical()
            .replace(r#"["point_mass","j2"]"#, r#"["point_mass"]"#),
        &ScenarioLimits::default(),
    )
    .unwrap();
    let Scenario::Orbit(point_mass) = point_mass else {
        unreachable!()
    };
    assert!(!point_mass.forces().j2);
    let rate = measured_node_rate(&point_mass, p);
    assert!(rate.abs() < 1e-6, "{rate} deg/day");
}
