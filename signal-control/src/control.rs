//! Closed-loop phase control: which green each signalised junction shows next.
//!
//! Pure: lane readings and the time come in, signal states go out. The same controllers run
//! against SUMO ([`crate::simulate`]) and, later, against the city's counts.
//!
//! - [`SiteSignal`] keeps one site's signal: the current green, since when, and the change
//!   interval (yellow, then all-red) when switching; greens never end before the change.
//! - [`PhaseController`] picks the next green when the site is in green:
//!   - [`MaxPressure`]: the textbook baseline. Every 5 s, once the green has run 10 s, the phase
//!     with the largest pressure (vehicles on incoming minus outgoing lanes, over its green
//!     signals) gets the green.
//!   - [`FixedCycle`]: greens in program order with given durations (SUMO's program, or a
//!     Webster plan recomputed every period from counted flows, see [`WebsterCycle`]).
//!   - [`RoadsightAdaptive`]: roadsight's controller, pressure as the cameras see it, with four
//!     things the textbook rule lacks:
//!     1. demand is what each camera zone holds (the last 120 m before the stop line, followed
//!        back over unsignalised junctions), so a queue spilling past a short lane still counts,
//!        and each lane counts once however many of its signals are green (less the mean of
//!        what its exits hold), so a left-turn lane is not outweighed by a shared
//!        through-and-right lane holding fewer vehicles;
//!     2. it decides every second once the green has run 8 s (not every 5 s after 10 s);
//!     3. a green on which nobody has crossed the stop line for 3 s gaps out when another
//!        phase has vehicles standing (an empty approach, or a shared lane whose first vehicle
//!        waits for a different phase);
//!     4. a lane with a queue that has seen no green for 90 s is served next, so minor
//!        approaches are never starved; for a turn some phase protects, only the protected
//!        green counts (a left turn yielding across a steady opposing flow is not served).

use crate::sumo_net::{change_state, is_green, SignalSite};

/// Per-lane readings at one instant, indexed like [`crate::sumo_net::SiteLanes`].
#[derive(Debug, Clone, Copy)]
pub struct LaneReadings<'a> {
    /// Vehicles on the lane (a camera zone's occupancy count).
    pub vehicles: &'a [f64],
    /// Vehicles standing on the lane (the zone's queue).
    pub halting: &'a [f64],
    /// How many vehicles the lane holds when jammed.
    pub capacity: &'a [f64],
    /// Vehicles that crossed the stop line since the previous reading (a counting line).
    pub crossed: &'a [f64],
    /// Vehicles in the zone a camera sees ahead of the stop line (incoming lanes; 0 elsewhere).
    pub zone_vehicles: &'a [f64],
    /// Vehicles standing in that zone (the zone's queue).
    pub zone_halting: &'a [f64],
}

/// Change interval between two greens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangeTiming {
    pub yellow_s: f64,
    pub all_red_s: f64,
}

impl Default for ChangeTiming {
    fn default() -> Self {
        ChangeTiming {
            yellow_s: 3.0,
            all_red_s: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Showing {
    Green,
    Yellow { next: usize, until_s: f64 },
    AllRed { next: usize, until_s: f64 },
}

/// One site's signal.
#[derive(Debug, Clone)]
pub struct SiteSignal {
    green: usize,
    green_since_s: f64,
    showing: Showing,
}

impl SiteSignal {
    /// Starts in green phase `green` at `now_s`.
    pub fn new(green: usize, now_s: f64) -> SiteSignal {
        SiteSignal {
            green,
            green_since_s: now_s,
            showing: Showing::Green,
        }
    }

    /// The green phase shown, or last shown while changing.
    pub fn green(&self) -> usize {
        self.green
    }

    /// Whether a green is showing (not a change interval).
    pub fn in_green(&self) -> bool {
        self.showing == Showing::Green
    }

    /// When the current green began.
    pub fn green_since_s(&self) -> f64 {
        self.green_since_s
    }

    /// Seconds the current green has shown.
    pub fn green_elapsed_s(&self, now_s: f64) -> f64 {
        now_s - self.green_since_s
    }

    /// The state string to show for `site`.
    pub fn state(&self, site: &SignalSite) -> String {
        let current = &site.green_states[self.green];
        match self.showing {
            Showing::Green => current.clone(),
            Showing::Yellow { next, .. } => change_state(current, &site.green_states[next]),
            Showing::AllRed { .. } => current.chars().map(|_| 'r').collect(),
        }
    }

    /// Starts changing to green `next`; returns the state to show now. Asking for the green
    /// already shown does nothing.
    pub fn switch_to(
        &mut self,
        next: usize,
        now_s: f64,
        site: &SignalSite,
        timing: ChangeTiming,
    ) -> Option<String> {
        if next == self.green || !self.in_green() || next >= site.green_states.len() {
            return None;
        }
        self.showing = Showing::Yellow {
            next,
            until_s: now_s + timing.yellow_s,
        };
        Some(self.state(site))
    }

    /// Moves the change interval on at `now_s`; returns a state when it changes.
    pub fn advance(
        &mut self,
        now_s: f64,
        site: &SignalSite,
        timing: ChangeTiming,
    ) -> Option<String> {
        match self.showing {
            Showing::Green => None,
            Showing::Yellow { next, until_s } if now_s >= until_s - 1e-9 => {
                if timing.all_red_s > 0.0 {
                    self.showing = Showing::AllRed {
                        next,
                        until_s: until_s + timing.all_red_s,
                    };
                    if now_s < until_s + timing.all_red_s - 1e-9 {
                        return Some(self.state(site));
                    }
                }
                self.green = next;
                self.green_since_s = now_s;
                self.showing = Showing::Green;
                Some(self.state(site))
            }
            Showing::AllRed { next, until_s } if now_s >= until_s - 1e-9 => {
                self.green = next;
                self.green_since_s = now_s;
                self.showing = Showing::Green;
                Some(self.state(site))
            }
            _ => None,
        }
    }
}

/// Picks a site's next green while it shows one.
pub trait PhaseController: std::fmt::Debug + Send {
    /// The green phase `site` should show from `now_s` (the current one to keep it).
    fn choose(
        &mut self,
        site_index: usize,
        site: &SignalSite,
        signal: &SiteSignal,
        readings: &LaneReadings,
        now_s: f64,
    ) -> usize;

    /// Called every step with the readings, before any choice (for controllers that count).
    fn observe(&mut self, _sites: &[SignalSite], _readings: &LaneReadings, _now_s: f64) {}
}

/// Sum over the signals green in `state` of the count on their incoming lane less the count on
/// their outgoing lane (both indexed by lane).
fn pressure(
    site: &SignalSite,
    state: &str,
    incoming_counts: &[f64],
    outgoing_counts: &[f64],
) -> f64 {
    state
        .chars()
        .zip(&site.links)
        .filter(|(signal, _)| is_green(*signal))
        .map(|(_, link)| {
            let incoming: f64 = link
                .incoming
                .iter()
                .map(|lane| incoming_counts[*lane])
                .sum();
            let outgoing: f64 = link
                .outgoing
                .iter()
                .map(|lane| outgoing_counts[*lane])
                .sum();
            incoming - outgoing
        })
        .sum()
}

/// The textbook max-pressure rule (Varaiya 2013, as RESCO and sumo-rl run it).
#[derive(Debug, Clone)]
pub struct MaxPressure {
    pub decision_interval_s: f64,
    pub min_green_s: f64,
}

impl Default for MaxPressure {
    fn default() -> Self {
        MaxPressure {
            decision_interval_s: 5.0,
            min_green_s: 10.0,
        }
    }
}

impl PhaseController for MaxPressure {
    fn choose(
        &mut self,
        _: usize,
        site: &SignalSite,
        signal: &SiteSignal,
        readings: &LaneReadings,
        now_s: f64,
    ) -> usize {
        let elapsed = signal.green_elapsed_s(now_s);
        let on_beat = (now_s / self.decision_interval_s).fract().abs() < 1e-6
            || (now_s / self.decision_interval_s).fract() > 1.0 - 1e-6;
        if elapsed < self.min_green_s - 1e-9 || !on_beat {
            return signal.green();
        }
        let mut best = signal.green();
        let mut best_pressure = pressure(
            site,
            &site.green_states[best],
            readings.vehicles,
            readings.vehicles,
        );
        for (phase, state) in site.green_states.iter().enumerate() {
            let value = pressure(site, state, readings.vehicles, readings.vehicles);
            if value > best_pressure + 1e-9 {
                best = phase;
                best_pressure = value;
            }
        }
        best
    }
}

/// Greens in program order, each for its planned duration.
#[derive(Debug, Clone, Default)]
pub struct FixedCycle {
    /// Per site, per green phase, seconds.
    pub greens_s: Vec<Vec<f64>>,
}

impl FixedCycle {
    /// The network's own program durations.
    pub fn from_programs(sites: &[SignalSite]) -> FixedCycle {
        FixedCycle {
            greens_s: sites
                .iter()
                .map(|site| site.green_durations_s.clone())
                .collect(),
        }
    }
}

impl PhaseController for FixedCycle {
    fn choose(
        &mut self,
        site_index: usize,
        site: &SignalSite,
        signal: &SiteSignal,
        _: &LaneReadings,
        now_s: f64,
    ) -> usize {
        let green = signal.green();
        let planned = self
            .greens_s
            .get(site_index)
            .and_then(|greens| greens.get(green))
            .copied()
            .unwrap_or(30.0);
        if signal.green_elapsed_s(now_s) + 1e-9 >= planned {
            (green + 1) % site.green_states.len()
        } else {
            green
        }
    }
}

/// Webster fixed time, replanned every `period_s` from the flows counted at the stop lines in
/// the period before (the first period runs the network's program).
#[derive(Debug, Clone)]
pub struct WebsterCycle {
    pub period_s: f64,
    pub saturation_per_lane_h: f64,
    pub min_green_s: f64,
    pub min_cycle_s: f64,
    pub max_cycle_s: f64,
    pub timing: ChangeTiming,
    cycle: FixedCycle,
    counted: Vec<f64>,
    period_started_s: Option<f64>,
}

impl WebsterCycle {
    pub fn new(sites: &[SignalSite], lane_count: usize, timing: ChangeTiming) -> WebsterCycle {
        WebsterCycle {
            period_s: 900.0,
            saturation_per_lane_h: 1800.0,
            min_green_s: 5.0,
            min_cycle_s: 30.0,
            max_cycle_s: 150.0,
            timing,
            cycle: FixedCycle::from_programs(sites),
            counted: vec![0.0; lane_count],
            period_started_s: None,
        }
    }

    fn replan(&mut self, sites: &[SignalSite], elapsed_s: f64) {
        let hours = elapsed_s / 3600.0;
        for (index, site) in sites.iter().enumerate() {
            let ratios: Vec<f64> = site
                .green_states
                .iter()
                .map(|state| {
                    state
                        .chars()
                        .zip(&site.links)
                        .filter(|(signal, _)| is_green(*signal))
                        .flat_map(|(_, link)| link.incoming.iter())
                        .map(|lane| self.counted[*lane] / hours / self.saturation_per_lane_h)
                        .fold(0.0, f64::max)
                })
                .collect();
            let y: f64 = ratios.iter().sum();
            let phases = ratios.len() as f64;
            // Lost time per phase: the change interval plus 2 s of start-up.
            let lost = phases * (self.timing.yellow_s + self.timing.all_red_s + 2.0);
            let cycle = match crate::webster::optimum_cycle(lost, y) {
                Some(cycle) if y < crate::webster::Y_SATURATED => cycle,
                _ => self.max_cycle_s,
            }
            .clamp(
                self.min_cycle_s.max(lost + phases * self.min_green_s),
                self.max_cycle_s,
            );
            let effective = cycle - phases * (self.timing.yellow_s + self.timing.all_red_s);
            let spare = effective - phases * self.min_green_s;
            let greens: Vec<f64> = ratios
                .iter()
                .map(|ratio| {
                    let share = if y > 0.0 { ratio / y } else { 1.0 / phases };
                    (self.min_green_s + spare * share)
                        .round()
                        .max(self.min_green_s)
                })
                .collect();
            if let Some(slot) = self.cycle.greens_s.get_mut(index) {
                *slot = greens;
            }
        }
        self.counted.iter_mut().for_each(|count| *count = 0.0);
    }
}

impl PhaseController for WebsterCycle {
    fn observe(&mut self, sites: &[SignalSite], readings: &LaneReadings, now_s: f64) {
        let started = *self.period_started_s.get_or_insert(now_s);
        for (count, crossed) in self.counted.iter_mut().zip(readings.crossed) {
            *count += crossed;
        }
        if now_s - started >= self.period_s {
            self.replan(sites, now_s - started);
            self.period_started_s = Some(now_s);
        }
    }

    fn choose(
        &mut self,
        site_index: usize,
        site: &SignalSite,
        signal: &SiteSignal,
        readings: &LaneReadings,
        now_s: f64,
    ) -> usize {
        self.cycle.choose(site_index, site, signal, readings, now_s)
    }
}

/// roadsight's adaptive rule; see the module documentation.
#[derive(Debug, Clone)]
pub struct RoadsightAdaptive {
    /// No green ends sooner.
    pub min_green_s: f64,
    /// A green whose lanes let no vehicle over the stop line for this long gaps out.
    pub gap_s: f64,
    /// A lane with vehicles standing in its zone gets a green within this long of its last.
    pub lane_max_wait_s: f64,
    /// Per lane, when a vehicle last crossed its stop line.
    last_crossing_s: Vec<f64>,
    /// Per lane, when it last had its best green (see `gives_best_green`).
    last_green_s: Vec<f64>,
}

impl Default for RoadsightAdaptive {
    fn default() -> Self {
        RoadsightAdaptive {
            min_green_s: 8.0,
            gap_s: 3.0,
            lane_max_wait_s: 90.0,
            last_crossing_s: Vec::new(),
            last_green_s: Vec::new(),
        }
    }
}

impl RoadsightAdaptive {
    /// Pressure as the cameras see it, each incoming lane counted once: over the lanes `state`
    /// gives a green to, the vehicles in the lane's camera zone less the mean of the vehicles
    /// on the lanes its green signals lead to. (The textbook sum over signals counts a lane
    /// once per green signal, so a shared through-and-right lane outweighs a full left-turn
    /// lane of the same length, and a left-turn pocket can fill back into the through lane.)
    fn zone_pressure(site: &SignalSite, state: &str, readings: &LaneReadings) -> f64 {
        site.incoming_lanes
            .iter()
            .filter_map(|lane| {
                let (exits, outgoing) = state
                    .chars()
                    .zip(&site.links)
                    .filter(|(signal, link)| is_green(*signal) && link.incoming.contains(lane))
                    .fold((0usize, 0.0), |(exits, outgoing), (_, link)| {
                        let vehicles: f64 = link
                            .outgoing
                            .iter()
                            .map(|exit| readings.vehicles[*exit])
                            .sum();
                        (exits + 1, outgoing + vehicles)
                    });
                (exits > 0).then(|| readings.zone_vehicles[*lane] - outgoing / exits as f64)
            })
            .sum()
    }

    /// Whether `state` gives `lane` the best green any phase of `site` gives it: a priority
    /// green (`G`) where some phase has one, else a permissive one (`g`). A left turn that only
    /// yields across the opposing flow is not served until its protected phase comes.
    fn gives_best_green(site: &SignalSite, state: &str, lane: usize) -> bool {
        let protected = |signal: char| signal == 'G';
        if !Self::serves(site, state, lane) {
            return false;
        }
        // Only a permissive green looks further: at the phases that might protect the lane.
        Self::shows(site, state, lane, protected)
            || !site
                .green_states
                .iter()
                .any(|other| Self::shows(site, other, lane, protected))
    }

    /// Whether `state` shows a green to some signal fed by `lane`.
    fn serves(site: &SignalSite, state: &str, lane: usize) -> bool {
        Self::shows(site, state, lane, is_green)
    }

    /// Whether `state` shows a signal state `wanted` accepts to some signal fed by `lane`.
    fn shows(site: &SignalSite, state: &str, lane: usize, wanted: impl Fn(char) -> bool) -> bool {
        state
            .chars()
            .zip(&site.links)
            .any(|(signal, link)| wanted(signal) && link.incoming.contains(&lane))
    }
}

impl PhaseController for RoadsightAdaptive {
    fn observe(&mut self, _: &[SignalSite], readings: &LaneReadings, now_s: f64) {
        let lanes = readings.crossed.len();
        if self.last_crossing_s.len() != lanes {
            self.last_crossing_s = vec![now_s; lanes];
            self.last_green_s = vec![now_s; lanes];
        }
        for (last, crossed) in self.last_crossing_s.iter_mut().zip(readings.crossed) {
            if *crossed > 0.0 {
                *last = now_s;
            }
        }
    }

    fn choose(
        &mut self,
        _: usize,
        site: &SignalSite,
        signal: &SiteSignal,
        readings: &LaneReadings,
        now_s: f64,
    ) -> usize {
        let current = signal.green();
        let lanes = readings.vehicles.len();
        if self.last_green_s.len() != lanes {
            self.last_crossing_s = vec![now_s; lanes];
            self.last_green_s = vec![now_s; lanes];
        }
        for lane in &site.incoming_lanes {
            if Self::gives_best_green(site, &site.green_states[current], *lane) {
                self.last_green_s[*lane] = now_s;
            }
        }
        if signal.green_elapsed_s(now_s) < self.min_green_s - 1e-9 {
            return current;
        }
        // Fairness: lanes with a queue that no green has reached for lane_max_wait_s go first.
        let starving: Vec<usize> = site
            .incoming_lanes
            .iter()
            .copied()
            .filter(|lane| readings.zone_halting[*lane] > 0.0)
            .filter(|lane| now_s - self.last_green_s[*lane] >= self.lane_max_wait_s)
            .collect();
        if !starving.is_empty() {
            let served = |state: &String| {
                starving
                    .iter()
                    .filter(|lane| Self::gives_best_green(site, state, **lane))
                    .count()
            };
            let most = site
                .green_states
                .iter()
                .enumerate()
                .map(|(phase, state)| (served(state), std::cmp::Reverse(phase)))
                .max();
            if let Some((count, std::cmp::Reverse(phase))) = most {
                if count > 0 {
                    return phase;
                }
            }
        }
        let mut best = current;
        let mut best_pressure = f64::NEG_INFINITY;
        for (phase, state) in site.green_states.iter().enumerate() {
            if phase != current {
                let pressure = Self::zone_pressure(site, state, readings);
                if pressure > best_pressure {
                    best = phase;
                    best_pressure = pressure;
                }
            }
        }
        if best == current {
            return current;
        }
        // Gap-out: nobody crosses on this green (an empty approach, a shared lane whose first
        // vehicle waits for another phase, an exit that does not drain) while others queue.
        let current_lanes = site
            .incoming_lanes
            .iter()
            .filter(|lane| Self::serves(site, &site.green_states[current], **lane));
        let last_crossing = current_lanes
            .map(|lane| self.last_crossing_s[*lane])
            .fold(signal.green_since_s(), f64::max);
        let others_queue = site.incoming_lanes.iter().any(|lane| {
            readings.zone_halting[*lane] > 0.0
                && Self::serves(site, &site.green_states[best], *lane)
        });
        if now_s - last_crossing >= self.gap_s - 1e-9 && others_queue {
            return best;
        }
        if best_pressure > Self::zone_pressure(site, &site.green_states[current], readings) {
            best
        } else {
            current
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sumo_net::SignalLink;

    /// A test site: its green states, and each signal's `(incoming lane, outgoing lane)`.
    fn site(green_states: &[&str], links: &[(usize, usize)]) -> SignalSite {
        let mut incoming_lanes: Vec<usize> = links.iter().map(|(incoming, _)| *incoming).collect();
        incoming_lanes.dedup();
        SignalSite {
            id: "test".into(),
            green_states: green_states.iter().map(|state| state.to_string()).collect(),
            green_durations_s: vec![30.0, 20.0],
            links: links
                .iter()
                .map(|(incoming, outgoing)| SignalLink {
                    incoming: vec![*incoming],
                    outgoing: vec![*outgoing],
                })
                .collect(),
            incoming_lanes,
        }
    }

    /// Two phases: 0 serves lane 0 into lane 2, 1 serves lane 1 into lane 3.
    fn cross() -> SignalSite {
        site(&["Gr", "rG"], &[(0, 2), (1, 3)])
    }

    fn readings<'a>(vehicles: &'a [f64], capacity: &'a [f64]) -> LaneReadings<'a> {
        LaneReadings {
            vehicles,
            halting: vehicles,
            capacity,
            crossed: &[0.0; 4],
            zone_vehicles: vehicles,
            zone_halting: vehicles,
        }
    }

    #[test]
    fn a_switch_goes_through_yellow_before_the_next_green() {
        let site = cross();
        let timing = ChangeTiming::default();
        let mut signal = SiteSignal::new(0, 0.0);
        assert_eq!(signal.state(&site), "Gr");
        assert_eq!(
            signal.switch_to(1, 20.0, &site, timing).as_deref(),
            Some("yr")
        );
        assert!(!signal.in_green());
        assert_eq!(signal.advance(22.0, &site, timing), None);
        assert_eq!(signal.advance(23.0, &site, timing).as_deref(), Some("rG"));
        assert_eq!(signal.green(), 1);
        assert_eq!(signal.green_elapsed_s(30.0), 7.0);
    }

    #[test]
    fn max_pressure_waits_for_its_minimum_green_and_its_beat() {
        let site = cross();
        let mut controller = MaxPressure::default();
        let capacity = [30.0; 4];
        let heavy_cross = readings(&[1.0, 9.0, 0.0, 0.0], &capacity);
        let signal = SiteSignal::new(0, 0.0);
        assert_eq!(
            controller.choose(0, &site, &signal, &heavy_cross, 5.0),
            0,
            "green too young"
        );
        assert_eq!(
            controller.choose(0, &site, &signal, &heavy_cross, 12.0),
            0,
            "off the 5 s beat"
        );
        assert_eq!(controller.choose(0, &site, &signal, &heavy_cross, 15.0), 1);
        // Downstream queues count against a phase.
        let blocked_exit = readings(&[1.0, 9.0, 0.0, 12.0], &capacity);
        assert_eq!(controller.choose(0, &site, &signal, &blocked_exit, 15.0), 0);
    }

    /// Steps `controller` on `site` (four lanes) one second at a time from 0 to `to_s` with
    /// lane 0 (phase 0's) crossing every `crossing_every_s` seconds; returns the first switch asked for, if any.
    fn run_adaptive(
        site: &SignalSite,
        controller: &mut RoadsightAdaptive,
        zone: [f64; 4],
        halting: [f64; 4],
        crossing_every_s: Option<u32>,
        to_s: u32,
    ) -> Option<(u32, usize)> {
        let signal = SiteSignal::new(0, 0.0);
        let capacity = [30.0; 4];
        for second in 0..=to_s {
            let crossing = crossing_every_s.is_some_and(|every| second % every == 0);
            let crossed = [if crossing { 1.0 } else { 0.0 }, 0.0, 0.0, 0.0];
            let readings = LaneReadings {
                vehicles: &zone,
                halting: &halting,
                capacity: &capacity,
                crossed: &crossed,
                zone_vehicles: &zone,
                zone_halting: &halting,
            };
            let now_s = f64::from(second);
            controller.observe(std::slice::from_ref(site), &readings, now_s);
            let next = controller.choose(0, site, &signal, &readings, now_s);
            if next != 0 {
                return Some((second, next));
            }
        }
        None
    }

    #[test]
    fn adaptive_keeps_a_used_green_until_the_other_side_weighs_more() {
        // Phase 0 holds 6 vehicles crossing steadily; phase 1 has 4 standing: keep.
        let mut controller = RoadsightAdaptive::default();
        assert_eq!(
            run_adaptive(
                &cross(),
                &mut controller,
                [6.0, 4.0, 0.0, 0.0],
                [0.0, 4.0, 0.0, 0.0],
                Some(2),
                60
            ),
            None
        );
        // The other side weighs more: switch, but not before the minimum green.
        let mut controller = RoadsightAdaptive::default();
        assert_eq!(
            run_adaptive(
                &cross(),
                &mut controller,
                [3.0, 9.0, 0.0, 0.0],
                [0.0, 9.0, 0.0, 0.0],
                Some(2),
                60
            ),
            Some((8, 1))
        );
    }

    /// Phase 0 serves lane 0 by two signals (through and right, a shared lane); phase 1
    /// serves lane 1 by one (a left-turn lane). Exits: lanes 2 and 3 (through, right) and 4.
    fn shared_lane_and_left_lane() -> SignalSite {
        site(&["GGr", "rrG"], &[(0, 2), (0, 3), (1, 4)])
    }

    #[test]
    fn adaptive_counts_a_shared_lane_once_however_many_of_its_signals_are_green() {
        let site = shared_lane_and_left_lane();
        assert_eq!(site.incoming_lanes, vec![0, 1]);
        // Lane 0 holds 6, the left-turn lane 1 holds 7, the exits hold 1, 3 and 0.
        let zone = [6.0, 7.0, 1.0, 3.0, 0.0];
        let capacity = [30.0; 5];
        let crossed = [1.0, 0.0, 0.0, 0.0, 0.0];
        let readings = LaneReadings {
            vehicles: &zone,
            halting: &zone,
            capacity: &capacity,
            crossed: &crossed,
            zone_vehicles: &zone,
            zone_halting: &zone,
        };
        // Phase 0: 6 - (1 + 3) / 2 = 4 (the textbook sum, (6 - 1) + (6 - 3) = 8, would keep
        // it); phase 1: 7.
        assert_eq!(
            RoadsightAdaptive::zone_pressure(&site, &site.green_states[0], &readings),
            4.0
        );
        assert_eq!(
            RoadsightAdaptive::zone_pressure(&site, &site.green_states[1], &readings),
            7.0
        );
        assert_eq!(
            pressure(&site, &site.green_states[0], &zone, &zone),
            8.0,
            "the textbook sum"
        );
        let signal = SiteSignal::new(0, 0.0);
        let mut controller = RoadsightAdaptive::default();
        controller.observe(std::slice::from_ref(&site), &readings, 10.0);
        assert_eq!(controller.choose(0, &site, &signal, &readings, 10.0), 1);
    }

    #[test]
    fn a_left_turn_that_only_yields_is_not_served_until_its_protected_phase_comes() {
        // Lane 0 goes straight; lane 1 turns left, yielding in phase 0 and protected in 1.
        let turn = site(&["Gg", "rG"], &[(0, 2), (1, 3)]);
        assert!(RoadsightAdaptive::gives_best_green(&turn, "rG", 1));
        assert!(!RoadsightAdaptive::gives_best_green(&turn, "Gg", 1));
        // Where no phase protects the turn, its permissive green is the best it gets.
        let permissive_only = site(&["Gg", "Gr"], &[(0, 2), (1, 3)]);
        assert!(RoadsightAdaptive::gives_best_green(
            &permissive_only,
            "Gg",
            1
        ));
        // A red is no service at all.
        assert!(!RoadsightAdaptive::gives_best_green(
            &permissive_only,
            "Gr",
            1
        ));
    }

    #[test]
    fn adaptive_gaps_out_of_a_green_nobody_crosses_on() {
        // Phase 0's zone holds more vehicles, but none crosses (its first vehicle waits for
        // something else): once 3 s pass without a crossing after the minimum green, phase 1's
        // standing queue gets the green.
        let mut controller = RoadsightAdaptive::default();
        assert_eq!(
            run_adaptive(
                &cross(),
                &mut controller,
                [8.0, 2.0, 0.0, 0.0],
                [8.0, 2.0, 0.0, 0.0],
                None,
                60
            ),
            Some((8, 1))
        );
        // With nobody standing elsewhere, an unused green stays.
        let mut controller = RoadsightAdaptive::default();
        assert_eq!(
            run_adaptive(
                &cross(),
                &mut controller,
                [0.0, 0.0, 0.0, 0.0],
                [0.0; 4],
                None,
                60
            ),
            None
        );
    }

    #[test]
    fn adaptive_serves_a_starving_lane_within_its_maximum_wait() {
        // Phase 0 is busy and crossing steadily and weighs more, yet the single vehicle
        // standing on lane 1 is served once it has waited lane_max_wait_s: on a plain
        // crossing, and where lane 1 is a left turn that yields in phase 0 all along (its
        // protected phase 1 comes).
        let yielding_turn = site(&["Gg", "rG"], &[(0, 2), (1, 3)]);
        for site in [cross(), yielding_turn] {
            let mut controller = RoadsightAdaptive::default();
            let switched = run_adaptive(
                &site,
                &mut controller,
                [20.0, 1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                Some(1),
                200,
            );
            assert_eq!(switched, Some((90, 1)), "{:?}", site.green_states);
        }
    }

    #[test]
    fn webster_replans_greens_toward_the_counted_flows() {
        let sites = vec![cross()];
        let mut controller = WebsterCycle::new(&sites, 4, ChangeTiming::default());
        let capacity = [30.0; 4];
        let vehicles = [0.0; 4];
        // 900 s with 0.2 veh/s on lane 0 and 0.05 veh/s on lane 1.
        for second in 0..=900 {
            let crossed = if second == 0 {
                [0.0; 4]
            } else {
                [0.2, 0.05, 0.0, 0.0]
            };
            let readings = LaneReadings {
                vehicles: &vehicles,
                halting: &vehicles,
                capacity: &capacity,
                crossed: &crossed,
                zone_vehicles: &vehicles,
                zone_halting: &vehicles,
            };
            controller.observe(&sites, &readings, f64::from(second));
        }
        let greens = &controller.cycle.greens_s[0];
        assert!(
            greens[0] > 2.0 * greens[1],
            "greens {greens:?} follow flows 720 vs 180 veh/h"
        );
        assert!(greens[1] >= 5.0);
    }
}
