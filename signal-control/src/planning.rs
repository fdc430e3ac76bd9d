//! From the cameras' counts to a round of timing plans for the city's intersections.
//!
//! [`CityPlanner`] is pure: the pipeline's records and the time come in, plans go out.
//!
//! - **Demand** per intersection movement, from the counting lines and turning movements the
//!   config maps to it ([`roadsight_core::DemandSourceConfig`]):
//!   - the flow of the last closed counting interval (15 minutes), in PCU per hour;
//!   - a short-horizon flow: every crossing adds its PCU to an exponentially decaying rate with
//!     time constant `smoothing_s`, so the estimate follows demand within minutes;
//!   - the queue standing in the movement's zone, which must clear within the next interval.
//!
//!   Webster plans on the short-horizon flow plus the queue's share; each decision reports
//!   both that (`flows_pcu_h`) and the last closed interval's flows (`interval_flows_pcu_h`),
//!   the figures a traffic engineer checks a plan against.
//! - **Freshness.** An intersection's counts are fresh while every camera feeding it is healthy
//!   and analysed a frame within `stale_after_s`. A quiet road with no vehicles is fresh data
//!   (zero flow); a camera that is down is not.
//! - **Fallback.** Stale counts, or a plan that fails validation, give the intersection's last
//!   valid plan (re-issued), or a fixed-time plan (even splits at the minimum cycle) when it has
//!   none. Every decision says which basis it has and why.
//! - **Coordination.** Each corridor runs a common cycle (the longest its members ask for,
//!   within every member's maximum); each member's greens are re-split for it, and offsets are
//!   the travel times along the corridor at its progression speed, so a platoon leaving one
//!   green arrives at the next one's start.
//! - Every plan passes [`crate::plan::validate`] before it leaves.

use crate::model::Intersection;
use crate::plan::{validate, TimingPlan};
use crate::webster::{critical_ratios, split_cycle, webster_plan};
use roadsight_core::counting::{CrossingDirection, FlowCount, ZoneState};
pub use roadsight_core::signal::{PlanBasis, PlanDecision};
use roadsight_core::{CameraId, CorridorConfig, IntersectionConfig, Timestamp};
use std::collections::HashMap;
use std::time::Duration;

/// Settings of the planner (from `[signals]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannerSettings {
    pub smoothing_s: f64,
    pub stale_after_s: f64,
    /// How often rounds run: a standing queue is to clear within one.
    pub plan_interval_s: f64,
}

#[derive(Debug, Clone)]
struct Source {
    movement: usize,
    camera: CameraId,
    counter: String,
    direction: Option<CrossingDirection>,
    zone: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct MovementDemand {
    /// Decaying event rate, PCU per hour, as of `rate_at`.
    rate_pcu_h: f64,
    rate_at: Option<Timestamp>,
    /// PCU per hour in the last closed interval, per source (summed over classes).
    interval_pcu_h: f64,
    interval_start: Option<Timestamp>,
    queue: f64,
}

#[derive(Debug, Clone)]
struct Site {
    model: Intersection,
    sources: Vec<Source>,
    demand: Vec<MovementDemand>,
    last_valid: Option<TimingPlan>,
}

#[derive(Debug, Clone, Default)]
struct CameraState {
    healthy: bool,
    last_frame: Option<Timestamp>,
}

/// The planner of every intersection in the city config.
#[derive(Debug, Clone)]
pub struct CityPlanner {
    settings: PlannerSettings,
    sites: Vec<Site>,
    corridors: Vec<CorridorConfig>,
    cameras: HashMap<CameraId, CameraState>,
    /// Per camera, the (site, source) pairs it feeds: a record touches only its camera's.
    sources_by_camera: HashMap<CameraId, Vec<(usize, usize)>>,
}

impl CityPlanner {
    /// A planner for validated config (`CityConfig::parse` checked the references).
    pub fn new(
        intersections: &[IntersectionConfig],
        corridors: &[CorridorConfig],
        settings: PlannerSettings,
    ) -> CityPlanner {
        let mut cameras = HashMap::new();
        let sites: Vec<Site> = intersections
            .iter()
            .map(|config| {
                let model = config.model();
                let sources = config
                    .demand
                    .iter()
                    .filter_map(|source| {
                        let movement = model
                            .movements
                            .iter()
                            .position(|m| m.id == source.movement)?;
                        let camera = CameraId::new(&source.camera);
                        cameras.insert(camera.clone(), CameraState::default());
                        Some(Source {
                            movement,
                            camera,
                            counter: source.counter.clone(),
                            direction: source.direction,
                            zone: source.zone.clone(),
                        })
                    })
                    .collect();
                Site {
                    demand: vec![MovementDemand::default(); model.movements.len()],
                    model,
                    sources,
                    last_valid: None,
                }
            })
            .collect();
        let mut sources_by_camera: HashMap<CameraId, Vec<(usize, usize)>> = HashMap::new();
        for (site_index, site) in sites.iter().enumerate() {
            for (source_index, source) in site.sources.iter().enumerate() {
                sources_by_camera
                    .entry(source.camera.clone())
                    .or_default()
                    .push((site_index, source_index));
            }
        }
        CityPlanner {
            settings,
            sites,
            corridors: corridors.to_vec(),
            cameras,
            sources_by_camera,
        }
    }

    /// Intersections planned.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// Whether any intersection counts on `camera`.
    pub fn watches(&self, camera: &CameraId) -> bool {
        self.cameras.contains_key(camera)
    }

    /// A camera's health changed (`healthy`: connected or finished normally).
    pub fn on_camera_health(&mut self, camera: &CameraId, healthy: bool) {
        if let Some(state) = self.cameras.get_mut(camera) {
            state.healthy = healthy;
        }
    }

    /// A frame of `camera` was analysed at `at` (its counts are current up to then).
    pub fn on_frame(&mut self, camera: &CameraId, at: Timestamp) {
        if let Some(state) = self.cameras.get_mut(camera) {
            state.healthy = true;
            state.last_frame = Some(state.last_frame.map_or(at, |last| last.max(at)));
        }
    }

    /// A vehicle crossed a line or completed a turning movement: `counter` of `camera`, with
    /// its passenger-car units.
    pub fn on_count(
        &mut self,
        camera: &CameraId,
        counter: &str,
        direction: Option<CrossingDirection>,
        pcu: f64,
        at: Timestamp,
    ) {
        let tau = self.settings.smoothing_s;
        for (site, movement) in self.movements_fed(camera, |source| {
            source.counter == counter && direction_matches(source.direction, direction)
        }) {
            let demand = &mut self.sites[site].demand[movement];
            let decayed = decay(demand.rate_pcu_h, demand.rate_at, at, tau);
            demand.rate_pcu_h = decayed + pcu * 3600.0 / tau;
            demand.rate_at = Some(demand.rate_at.map_or(at, |last| last.max(at)));
        }
    }

    /// A closed counting interval: its PCU per hour feeds the movements counted there.
    pub fn on_flow_count(&mut self, count: &FlowCount) {
        let hours = count.interval_s as f64 / 3600.0;
        if hours <= 0.0 {
            return;
        }
        for (site, movement) in self.movements_fed(&count.camera, |source| {
            source.counter == count.counter && direction_matches(source.direction, count.direction)
        }) {
            let demand = &mut self.sites[site].demand[movement];
            if demand.interval_start != Some(count.interval_start) {
                // A new interval: forget the last one's sum.
                demand.interval_start = Some(count.interval_start);
                demand.interval_pcu_h = 0.0;
            }
            demand.interval_pcu_h += count.pcu / hours;
        }
    }

    /// A zone's queue now.
    pub fn on_zone(&mut self, state: &ZoneState) {
        for (site, movement) in self.movements_fed(&state.camera, |source| {
            source.zone.as_deref() == Some(state.zone.as_str())
        }) {
            self.sites[site].demand[movement].queue = f64::from(state.queue);
        }
    }

    /// The (site, movement) pairs that `camera` feeds through a source `accepts` takes, one per
    /// such source.
    fn movements_fed(
        &self,
        camera: &CameraId,
        accepts: impl Fn(&Source) -> bool,
    ) -> Vec<(usize, usize)> {
        self.sources_by_camera
            .get(camera)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|&(site, source)| (site, &self.sites[site].sources[source]))
            .filter(|(_, source)| accepts(source))
            .map(|(site, source)| (site, source.movement))
            .collect()
    }

    /// Why `site`'s counts cannot be trusted at `now`, if they cannot.
    fn staleness(&self, site: &Site, now: Timestamp) -> Option<String> {
        if site.sources.is_empty() {
            return Some("no camera counts this intersection".into());
        }
        let stale_after = Duration::from_secs_f64(self.settings.stale_after_s);
        for source in &site.sources {
            let Some(state) = self.cameras.get(&source.camera) else {
                continue;
            };
            if !state.healthy {
                return Some(format!("camera {} is down", source.camera));
            }
            match state.last_frame {
                None => return Some(format!("camera {} has sent no frame yet", source.camera)),
                Some(last) if now.duration_since(last) > stale_after => {
                    return Some(format!(
                        "camera {} has sent no frame for {:.0} s",
                        source.camera,
                        now.duration_since(last).as_secs_f64()
                    ))
                }
                Some(_) => {}
            }
        }
        None
    }

    /// Demand per movement at `now`, PCU per hour.
    fn flows(&self, site: &Site, now: Timestamp) -> HashMap<String, f64> {
        site.model
            .movements
            .iter()
            .zip(&site.demand)
            .map(|(movement, demand)| {
                let rate = decay(
                    demand.rate_pcu_h,
                    demand.rate_at,
                    now,
                    self.settings.smoothing_s,
                );
                let queue_share = demand.queue * 3600.0 / self.settings.plan_interval_s;
                (movement.id.clone(), rate + queue_share)
            })
            .collect()
    }

    /// One round: a plan for every intersection, valid from `now`.
    pub fn plan_round(&mut self, now: Timestamp) -> Vec<PlanDecision> {
        let mut decisions = Vec::with_capacity(self.sites.len());
        let mut ratios: Vec<Vec<f64>> = Vec::with_capacity(self.sites.len());
        for site in &self.sites {
            let flows = self.flows(site, now);
            ratios.push(critical_ratios(&site.model, &flows));
            let decision = match self.staleness(site, now) {
                Some(reason) => fallback(site, now, reason),
                None => PlanDecision {
                    plan: webster_plan(&site.model, &flows, now),
                    basis: PlanBasis::Counts,
                    corridor: None,
                    reason: None,
                    flows_pcu_h: Vec::new(),
                    interval_flows_pcu_h: Vec::new(),
                },
            };
            let mut flows_pcu_h: Vec<(String, f64)> = flows.into_iter().collect();
            flows_pcu_h.sort_by(|a, b| a.0.cmp(&b.0));
            // The last closed interval's flow of each movement that has one (model order).
            let interval_flows_pcu_h = site
                .model
                .movements
                .iter()
                .zip(&site.demand)
                .filter(|(_, demand)| demand.interval_start.is_some())
                .map(|(movement, demand)| (movement.id.clone(), demand.interval_pcu_h))
                .collect();
            decisions.push(PlanDecision {
                flows_pcu_h,
                interval_flows_pcu_h,
                ..decision
            });
        }
        self.coordinate(&mut decisions, &ratios);
        for (site, decision) in self.sites.iter_mut().zip(&mut decisions) {
            match validate(&decision.plan, &site.model) {
                Ok(()) => {
                    if decision.basis == PlanBasis::Counts {
                        site.last_valid = Some(decision.plan.clone());
                    }
                }
                Err(error) => {
                    let flows_pcu_h = std::mem::take(&mut decision.flows_pcu_h);
                    let interval_flows_pcu_h = std::mem::take(&mut decision.interval_flows_pcu_h);
                    let corridor = decision.corridor.take();
                    *decision = PlanDecision {
                        flows_pcu_h,
                        interval_flows_pcu_h,
                        corridor,
                        ..fallback(site, now, format!("planned plan invalid: {error}"))
                    };
                }
            }
        }
        decisions
    }

    /// Common cycle and offsets along each corridor.
    fn coordinate(&self, decisions: &mut [PlanDecision], ratios: &[Vec<f64>]) {
        for corridor in &self.corridors {
            let members: Vec<usize> = corridor
                .intersections
                .iter()
                .filter_map(|id| self.sites.iter().position(|site| &site.model.id == id))
                .collect();
            if members.len() < 2 {
                continue;
            }
            let ceiling = members
                .iter()
                .map(|m| self.sites[*m].model.max_cycle_s)
                .fold(f64::INFINITY, f64::min);
            let cycle = members
                .iter()
                .map(|m| decisions[*m].plan.cycle_s)
                .fold(0.0, f64::max)
                .min(ceiling)
                .round();
            let speed_m_s = corridor.speed_kmh / 3.6;
            let mut offset_s = 0.0;
            for (position, member) in members.iter().enumerate() {
                if position > 0 {
                    offset_s += corridor
                        .distances_m
                        .get(position - 1)
                        .copied()
                        .unwrap_or(0.0)
                        / speed_m_s;
                }
                let site = &self.sites[*member];
                let decision = &mut decisions[*member];
                // A member on its fallback keeps its splits' proportions; one on counts its ratios.
                let member_ratios = if decision.basis == PlanBasis::Counts {
                    ratios[*member].clone()
                } else {
                    decision
                        .plan
                        .splits
                        .iter()
                        .map(|split| split.green_s.max(0.0))
                        .collect()
                };
                let mut plan =
                    split_cycle(&site.model, &member_ratios, cycle, decision.plan.valid_from);
                plan.offset_s = (offset_s % cycle).round();
                decision.plan = plan;
                decision.corridor = Some(corridor.id.clone());
            }
        }
    }
}

fn fallback(site: &Site, now: Timestamp, reason: String) -> PlanDecision {
    match &site.last_valid {
        Some(plan) => PlanDecision {
            plan: TimingPlan {
                valid_from: now,
                ..plan.clone()
            },
            basis: PlanBasis::LastValid,
            corridor: None,
            reason: Some(reason),
            flows_pcu_h: Vec::new(),
            interval_flows_pcu_h: Vec::new(),
        },
        None => PlanDecision {
            plan: webster_plan(&site.model, &HashMap::new(), now),
            basis: PlanBasis::FixedTime,
            corridor: None,
            reason: Some(reason),
            flows_pcu_h: Vec::new(),
            interval_flows_pcu_h: Vec::new(),
        },
    }
}

/// Whether a source that wants `wanted` (any direction when `None`) takes a record `seen`
/// going (any direction when the record has none).
fn direction_matches(wanted: Option<CrossingDirection>, seen: Option<CrossingDirection>) -> bool {
    match (wanted, seen) {
        (Some(wanted), Some(seen)) => wanted == seen,
        _ => true,
    }
}

/// `rate` (as of `since`) decayed to `now` with time constant `tau_s`.
fn decay(rate: f64, since: Option<Timestamp>, now: Timestamp, tau_s: f64) -> f64 {
    match since {
        Some(since) => rate * (-now.duration_since(since).as_secs_f64() / tau_s).exp(),
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intersection(id: &str, camera: &str) -> IntersectionConfig {
        let text = format!(
            r#"
            id = "{id}"
            movements = [
              {{ id = "ns", from = "north", turn = "through", lanes = 2 }},
              {{ id = "ew", from = "east", turn = "through", lanes = 1 }},
            ]
            phases = [
              {{ id = "a", movements = ["ns"], min_green_s = 8, max_green_s = 90, yellow_s = 3, all_red_s = 1 }},
              {{ id = "b", movements = ["ew"], min_green_s = 8, max_green_s = 90, yellow_s = 3, all_red_s = 1 }},
            ]
            demand = [
              {{ movement = "ns", camera = "{camera}", counter = "ns-stop", direction = "forward", zone = "ns-queue" }},
              {{ movement = "ew", camera = "{camera}", counter = "ew-stop" }},
            ]
            "#
        );
        match toml::from_str(&text) {
            Ok(config) => config,
            Err(error) => panic!("test intersection: {error}"),
        }
    }

    fn settings() -> PlannerSettings {
        PlannerSettings {
            smoothing_s: 300.0,
            stale_after_s: 60.0,
            plan_interval_s: 900.0,
        }
    }

    fn at(seconds: f64) -> Timestamp {
        Timestamp::UNIX_EPOCH.plus(Duration::from_secs_f64(seconds))
    }

    /// Feeds `ns_every_s` and `ew_every_s` spaced crossings for `seconds`, frames every second.
    fn feed(
        planner: &mut CityPlanner,
        camera: &CameraId,
        seconds: u32,
        ns_every_s: u32,
        ew_every_s: u32,
    ) {
        for second in 0..seconds {
            let now = at(f64::from(second));
            planner.on_frame(camera, now);
            if second % ns_every_s == 0 {
                planner.on_count(
                    camera,
                    "ns-stop",
                    Some(CrossingDirection::Forward),
                    1.0,
                    now,
                );
                // The other direction of the same line is not this movement's demand.
                planner.on_count(
                    camera,
                    "ns-stop",
                    Some(CrossingDirection::Backward),
                    1.0,
                    now,
                );
            }
            if second % ew_every_s == 0 {
                planner.on_count(camera, "ew-stop", None, 1.0, now);
            }
        }
    }

    fn green(decision: &PlanDecision, phase: &str) -> f64 {
        decision
            .plan
            .splits
            .iter()
            .find(|split| split.phase == phase)
            .map_or(0.0, |split| split.green_s)
    }

    #[test]
    fn counted_flows_give_a_valid_plan_with_greens_in_proportion() {
        let camera = CameraId::new("cam");
        let mut planner = CityPlanner::new(&[intersection("x", "cam")], &[], settings());
        // 1,200 veh/h north-south against 300 east-west, for 30 minutes.
        feed(&mut planner, &camera, 1800, 3, 12);
        let decisions = planner.plan_round(at(1800.0));
        assert_eq!(decisions.len(), 1);
        let decision = &decisions[0];
        assert_eq!(decision.basis, PlanBasis::Counts, "{decision:?}");
        let flow = |id: &str| {
            decision
                .flows_pcu_h
                .iter()
                .find(|(movement, _)| movement == id)
                .map_or(0.0, |(_, flow)| *flow)
        };
        assert!(
            (flow("ns") - 1200.0).abs() < 60.0,
            "{:?}",
            decision.flows_pcu_h
        );
        assert!(
            (flow("ew") - 300.0).abs() < 30.0,
            "{:?}",
            decision.flows_pcu_h
        );
        // Ratios 1200/3600 and 300/1800: greens about 2:1.
        let ratio = green(decision, "a") / green(decision, "b");
        assert!(
            (1.6..2.4).contains(&ratio),
            "greens {:?}",
            decision.plan.splits
        );
    }

    #[test]
    fn the_last_closed_interval_is_reported_per_movement_summed_over_classes() {
        use roadsight_core::counting::CounterKind;
        use roadsight_core::VehicleClass;
        let camera = CameraId::new("cam");
        let mut planner = CityPlanner::new(&[intersection("x", "cam")], &[], settings());
        feed(&mut planner, &camera, 1800, 3, 12);
        let count = |camera: &str, direction, class, pcu: f64, start: f64| FlowCount {
            camera: CameraId::new(camera),
            kind: CounterKind::Line,
            counter: "ns-stop".into(),
            lane: None,
            direction,
            class,
            interval_start: at(start),
            interval_s: 900,
            count: pcu as u64,
            pcu,
        };
        let forward = Some(CrossingDirection::Forward);
        // An older interval, then the closed one: cars and trucks add up; the other direction
        // and another camera's line of the same name do not count.
        planner.on_flow_count(&count("cam", forward, VehicleClass::Car, 50.0, 0.0));
        planner.on_flow_count(&count("cam", forward, VehicleClass::Car, 200.0, 900.0));
        planner.on_flow_count(&count("cam", forward, VehicleClass::Truck, 100.0, 900.0));
        planner.on_flow_count(&count(
            "cam",
            Some(CrossingDirection::Backward),
            VehicleClass::Car,
            70.0,
            900.0,
        ));
        planner.on_flow_count(&count("other", forward, VehicleClass::Car, 90.0, 900.0));
        let decisions = planner.plan_round(at(1800.0));
        assert_eq!(
            decisions[0].interval_flows_pcu_h,
            [("ns".to_string(), 1200.0)],
            "{:?}",
            decisions[0]
        );
    }

    #[test]
    fn a_camera_down_falls_back_to_the_last_valid_plan_and_before_that_to_fixed_time() {
        let camera = CameraId::new("cam");
        let mut planner = CityPlanner::new(&[intersection("x", "cam")], &[], settings());
        // No frame yet: fixed time.
        let first = planner.plan_round(at(0.0));
        assert_eq!(first[0].basis, PlanBasis::FixedTime);
        assert!(
            first[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("cam")),
            "{first:?}"
        );
        assert_eq!(green(&first[0], "a"), green(&first[0], "b"));
        feed(&mut planner, &camera, 900, 3, 12);
        let counted = planner.plan_round(at(900.0)).remove(0);
        assert_eq!(counted.basis, PlanBasis::Counts);
        planner.on_camera_health(&camera, false);
        let down = planner.plan_round(at(960.0)).remove(0);
        assert_eq!(down.basis, PlanBasis::LastValid);
        assert_eq!(down.plan.splits, counted.plan.splits);
        assert_eq!(down.plan.valid_from, at(960.0));
        assert!(
            down.reason
                .as_deref()
                .is_some_and(|r| r.contains("camera cam is down")),
            "{down:?}"
        );
        // Healthy but silent for longer than stale_after_s: also stale.
        planner.on_camera_health(&camera, true);
        let silent = planner.plan_round(at(2000.0)).remove(0);
        assert_eq!(silent.basis, PlanBasis::LastValid, "{silent:?}");
    }

    #[test]
    fn a_quiet_road_is_fresh_data_not_a_fault() {
        let camera = CameraId::new("cam");
        let mut planner = CityPlanner::new(&[intersection("x", "cam")], &[], settings());
        for second in 0..600 {
            planner.on_frame(&camera, at(f64::from(second)));
        }
        let decision = planner.plan_round(at(600.0)).remove(0);
        assert_eq!(decision.basis, PlanBasis::Counts);
        assert_eq!(
            decision.plan.cycle_s, 40.0,
            "the minimum cycle when nobody comes"
        );
    }

    #[test]
    fn a_corridor_runs_a_common_cycle_with_offsets_from_travel_time() {
        let busy = CameraId::new("busy");
        let light = CameraId::new("light");
        let corridor = CorridorConfig {
            id: "main".into(),
            intersections: vec!["first".into(), "second".into()],
            distances_m: vec![500.0],
            speed_kmh: 36.0,
        };
        let mut planner = CityPlanner::new(
            &[
                intersection("first", "busy"),
                intersection("second", "light"),
            ],
            &[corridor],
            settings(),
        );
        feed(&mut planner, &busy, 1800, 3, 4);
        feed(&mut planner, &light, 1800, 30, 60);
        let decisions = planner.plan_round(at(1800.0));
        let cycles: Vec<f64> = decisions.iter().map(|d| d.plan.cycle_s).collect();
        assert_eq!(cycles[0], cycles[1], "common cycle");
        assert!(cycles[0] > 40.0, "the busy member sets it: {cycles:?}");
        assert_eq!(decisions[0].plan.offset_s, 0.0);
        // 500 m at 10 m/s: 50 s after the first.
        assert_eq!(decisions[1].plan.offset_s, 50.0_f64 % cycles[0]);
        for decision in &decisions {
            assert_eq!(decision.corridor.as_deref(), Some("main"));
            assert_eq!(decision.basis, PlanBasis::Counts);
        }
    }
}
