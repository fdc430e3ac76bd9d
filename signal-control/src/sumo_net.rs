//! What signal control needs from a SUMO network file (`*.net.xml`): each traffic light's
//! program and the lanes its signal indices control, and each lane's length.
//!
//! From that, [`SignalSite`]s: the controller's view of one signalised junction (green phases
//! as sets of signal indices, each index with its incoming and outgoing lane).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Reading a network file failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot read SUMO network {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("SUMO network {path} is not valid XML: {message}")]
    Xml { path: String, message: String },
    #[error("SUMO network {path}: {what}")]
    Content { path: String, what: String },
}

/// One phase of a SUMO signal program.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramPhase {
    pub duration_s: f64,
    /// One character per signal index: `G`, `g`, `y`, `r`, `s`, `u`, `o`, `O`.
    pub state: String,
}

/// A traffic light as the network defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficLight {
    pub id: String,
    pub program_id: String,
    pub offset_s: f64,
    pub phases: Vec<ProgramPhase>,
    /// Per signal index, the `(incoming lane, outgoing lane)` pairs it controls.
    pub links: BTreeMap<usize, Vec<(String, String)>>,
}

/// The parts of a network that signal control uses.
#[derive(Debug, Clone, Default)]
pub struct SumoNetwork {
    pub traffic_lights: Vec<TrafficLight>,
    /// Lane id to length in metres (internal lanes left out).
    pub lane_lengths: HashMap<String, f64>,
    /// Lane id to the lanes that feed it through junctions without a signal (a road split into
    /// several edges; a queue grows back across them).
    pub unsignalised_predecessors: HashMap<String, Vec<String>>,
}

impl SumoNetwork {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<SumoNetwork, NetError> {
        let text = std::fs::read_to_string(path).map_err(|source| NetError::Read {
            path: path.display().to_string(),
            source,
        })?;
        SumoNetwork::parse(&text, &path.display().to_string())
    }

    /// Parses network XML; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<SumoNetwork, NetError> {
        let document = roxmltree::Document::parse(text).map_err(|error| NetError::Xml {
            path: origin.to_string(),
            message: error.to_string(),
        })?;
        let content = |what: String| NetError::Content {
            path: origin.to_string(),
            what,
        };
        let root = document.root_element();
        let mut network = SumoNetwork::default();
        let mut lights: Vec<TrafficLight> = Vec::new();
        for node in root.children().filter(|node| node.is_element()) {
            match node.tag_name().name() {
                "edge" if node.attribute("function") != Some("internal") => {
                    for lane in node.children().filter(|lane| lane.has_tag_name("lane")) {
                        let (Some(id), Some(length)) =
                            (lane.attribute("id"), lane.attribute("length"))
                        else {
                            continue;
                        };
                        let length: f64 = length
                            .parse()
                            .map_err(|_| content(format!("lane {id} has length {length:?}")))?;
                        network.lane_lengths.insert(id.to_string(), length);
                    }
                }
                "tlLogic" => {
                    let id = node
                        .attribute("id")
                        .ok_or_else(|| content("a tlLogic without id".into()))?;
                    let mut phases = Vec::new();
                    for phase in node.children().filter(|phase| phase.has_tag_name("phase")) {
                        let duration = phase.attribute("duration").unwrap_or("0");
                        let duration_s: f64 = duration.parse().map_err(|_| {
                            content(format!("tlLogic {id}: phase duration {duration:?}"))
                        })?;
                        let state = phase.attribute("state").ok_or_else(|| {
                            content(format!("tlLogic {id}: a phase without state"))
                        })?;
                        phases.push(ProgramPhase {
                            duration_s,
                            state: state.to_string(),
                        });
                    }
                    // A network may carry several programs of one light; the first is the default.
                    if lights.iter().all(|light| light.id != id) {
                        lights.push(TrafficLight {
                            id: id.to_string(),
                            program_id: node.attribute("programID").unwrap_or("0").to_string(),
                            offset_s: node
                                .attribute("offset")
                                .and_then(|o| o.parse().ok())
                                .unwrap_or(0.0),
                            phases,
                            links: BTreeMap::new(),
                        });
                    }
                }
                "connection" => {
                    let (Some(tl), Some(index)) =
                        (node.attribute("tl"), node.attribute("linkIndex"))
                    else {
                        let from = node.attribute("from").unwrap_or(":");
                        let to = node.attribute("to").unwrap_or(":");
                        if let (false, false, Some(from_lane), Some(to_lane)) = (
                            from.starts_with(':'),
                            to.starts_with(':'),
                            node.attribute("fromLane"),
                            node.attribute("toLane"),
                        ) {
                            let predecessors = network
                                .unsignalised_predecessors
                                .entry(format!("{to}_{to_lane}"))
                                .or_default();
                            let from = format!("{from}_{from_lane}");
                            if !predecessors.contains(&from) {
                                predecessors.push(from);
                            }
                        }
                        continue;
                    };
                    let attribute = |name: &str| {
                        node.attribute(name)
                            .ok_or_else(|| content(format!("connection of {tl} without {name}")))
                    };
                    let index: usize = index
                        .parse()
                        .map_err(|_| content(format!("connection of {tl}: linkIndex {index:?}")))?;
                    let from = format!("{}_{}", attribute("from")?, attribute("fromLane")?);
                    let to = format!("{}_{}", attribute("to")?, attribute("toLane")?);
                    if let Some(light) = lights.iter_mut().find(|light| light.id == tl) {
                        light.links.entry(index).or_default().push((from, to));
                    } else {
                        return Err(content(format!(
                            "connection names traffic light {tl}, defined nowhere before it"
                        )));
                    }
                }
                _ => {}
            }
        }
        for light in &lights {
            let width = light
                .phases
                .first()
                .map(|phase| phase.state.len())
                .unwrap_or(0);
            if light.phases.is_empty() {
                return Err(content(format!("traffic light {} has no phases", light.id)));
            }
            if let Some(phase) = light.phases.iter().find(|phase| phase.state.len() != width) {
                return Err(content(format!(
                    "traffic light {}: phase state {:?} has {} signals where the first has {width}",
                    light.id,
                    phase.state,
                    phase.state.len()
                )));
            }
        }
        network.traffic_lights = lights;
        Ok(network)
    }
}

/// One signal index of a site: the lanes it lets through.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalLink {
    pub incoming: Vec<usize>,
    pub outgoing: Vec<usize>,
}

/// A controller's view of one signalised junction.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSite {
    pub id: String,
    /// Distinct green phases of the network's program: the signal states, in program order.
    pub green_states: Vec<String>,
    /// Per green phase, the program's duration (the fixed-time plan's green).
    pub green_durations_s: Vec<f64>,
    /// Per signal index.
    pub links: Vec<SignalLink>,
    /// Lanes this site's signals control, incoming first; indices into [`SiteLanes`].
    pub incoming_lanes: Vec<usize>,
}

/// The lanes every site refers to by index, with their lengths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteLanes {
    pub ids: Vec<String>,
    pub lengths_m: Vec<f64>,
    /// Per lane: for a lane entering a site, the camera zone ahead of its stop line as
    /// `(lane, metres before that lane's end)` parts, the lane itself first, then the lanes
    /// feeding it through unsignalised junctions while the zone reaches further; empty for
    /// other lanes.
    pub zone_parts: Vec<Vec<(usize, f64)>>,
    index: HashMap<String, usize>,
}

impl SiteLanes {
    fn intern(&mut self, id: &str, length_m: f64) -> usize {
        if let Some(index) = self.index.get(id) {
            return *index;
        }
        let index = self.ids.len();
        self.ids.push(id.to_string());
        self.lengths_m.push(length_m);
        self.zone_parts.push(Vec::new());
        self.index.insert(id.to_string(), index);
        index
    }

    /// The index of a lane, if a site uses it.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

/// True for a signal character that lets traffic go (`G` priority, `g` permissive).
pub fn is_green(signal: char) -> bool {
    matches!(signal, 'G' | 'g')
}

/// The state shown while changing from `from` to `to`: signals green in `from` and not in `to`
/// turn yellow, the rest show `to` with greens held red until the change ends.
pub fn change_state(from: &str, to: &str) -> String {
    from.chars()
        .zip(to.chars())
        .map(
            |(before, after)| match (is_green(before), is_green(after)) {
                (true, false) => 'y',
                (true, true) => before,
                (false, _) => 'r',
            },
        )
        .collect()
}

/// The controller's sites for every traffic light of `network`, with camera zones reaching
/// `zone_m` metres back from each stop line. Lights without a green phase (always off or
/// blinking) are left out.
pub fn signal_sites(network: &SumoNetwork, zone_m: f64) -> (Vec<SignalSite>, SiteLanes) {
    let mut lanes = SiteLanes::default();
    let mut sites = Vec::new();
    for light in &network.traffic_lights {
        let mut green_states: Vec<String> = Vec::new();
        let mut green_durations_s = Vec::new();
        for phase in &light.phases {
            let has_green = phase.state.chars().any(is_green);
            let changing = phase
                .state
                .chars()
                .any(|signal| matches!(signal, 'y' | 'Y'));
            if has_green && !changing && !green_states.contains(&phase.state) {
                green_states.push(phase.state.clone());
                green_durations_s.push(phase.duration_s);
            }
        }
        if green_states.is_empty() {
            continue;
        }
        let width = green_states[0].len();
        let mut links = Vec::with_capacity(width);
        let mut incoming_lanes = Vec::new();
        for index in 0..width {
            let mut link = SignalLink {
                incoming: Vec::new(),
                outgoing: Vec::new(),
            };
            for (from, to) in light.links.get(&index).map(Vec::as_slice).unwrap_or(&[]) {
                let from_length = network.lane_lengths.get(from).copied().unwrap_or(100.0);
                let to_length = network.lane_lengths.get(to).copied().unwrap_or(100.0);
                let from_index = lanes.intern(from, from_length);
                let to_index = lanes.intern(to, to_length);
                if !link.incoming.contains(&from_index) {
                    link.incoming.push(from_index);
                }
                if !link.outgoing.contains(&to_index) {
                    link.outgoing.push(to_index);
                }
                if !incoming_lanes.contains(&from_index) {
                    incoming_lanes.push(from_index);
                }
            }
            links.push(link);
        }
        for lane in &incoming_lanes {
            if lanes.zone_parts[*lane].is_empty() {
                let parts = zone_parts(network, &mut lanes, *lane, zone_m);
                lanes.zone_parts[*lane] = parts;
            }
        }
        sites.push(SignalSite {
            id: light.id.clone(),
            green_states,
            green_durations_s,
            links,
            incoming_lanes,
        });
    }
    (sites, lanes)
}

/// Walks back from `lane`'s stop line over unsignalised predecessors until `zone_m` is covered.
fn zone_parts(
    network: &SumoNetwork,
    lanes: &mut SiteLanes,
    lane: usize,
    zone_m: f64,
) -> Vec<(usize, f64)> {
    let mut parts = Vec::new();
    // (lane, metres of the zone still to cover when reaching that lane's end)
    let mut frontier = vec![(lane, zone_m)];
    while let Some((current, remaining_m)) = frontier.pop() {
        if parts.len() >= 16 || parts.iter().any(|(seen, _)| *seen == current) {
            continue;
        }
        let length_m = lanes.lengths_m[current];
        parts.push((current, remaining_m.min(length_m)));
        let beyond_m = remaining_m - length_m;
        if beyond_m <= 0.0 {
            continue;
        }
        let id = lanes.ids[current].clone();
        for predecessor in network
            .unsignalised_predecessors
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let length_m = network
                .lane_lengths
                .get(predecessor)
                .copied()
                .unwrap_or(100.0);
            let index = lanes.intern(predecessor, length_m);
            frontier.push((index, beyond_m));
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const CROSS: &str = r#"<net>
      <edge id=":c_0" function="internal"><lane id=":c_0_0" length="5"/></edge>
      <edge id="n_in"><lane id="n_in_0" length="200"/></edge>
      <edge id="e_in"><lane id="e_in_0" length="150"/></edge>
      <edge id="s_out"><lane id="s_out_0" length="200"/></edge>
      <edge id="w_out"><lane id="w_out_0" length="120"/></edge>
      <tlLogic id="c" type="static" programID="0" offset="0">
        <phase duration="30" state="Gr"/>
        <phase duration="3" state="yr"/>
        <phase duration="25" state="rG"/>
        <phase duration="3" state="ry"/>
      </tlLogic>
      <connection from="n_in" to="s_out" fromLane="0" toLane="0" tl="c" linkIndex="0"/>
      <connection from="e_in" to="w_out" fromLane="0" toLane="0" tl="c" linkIndex="1"/>
    </net>"#;

    #[test]
    fn a_crossing_gives_two_green_phases_with_their_lanes() {
        let network = SumoNetwork::parse(CROSS, "cross.net.xml").expect("parses");
        assert_eq!(network.lane_lengths.get("e_in_0"), Some(&150.0));
        assert!(
            !network.lane_lengths.contains_key(":c_0_0"),
            "internal lanes are left out"
        );
        let (sites, lanes) = signal_sites(&network, 120.0);
        assert_eq!(sites.len(), 1);
        let site = &sites[0];
        assert_eq!(site.green_states, vec!["Gr".to_string(), "rG".to_string()]);
        assert_eq!(site.green_durations_s, vec![30.0, 25.0]);
        assert_eq!(lanes.ids[site.links[1].incoming[0]], "e_in_0");
        assert_eq!(lanes.ids[site.links[1].outgoing[0]], "w_out_0");
        assert_eq!(lanes.lengths_m[site.links[1].outgoing[0]], 120.0);
    }

    #[test]
    fn change_states_turn_ending_greens_yellow() {
        assert_eq!(change_state("GGrr", "rrGG"), "yyrr");
        assert_eq!(change_state("GgrG", "GrGr"), "GyrY".replace('Y', "y"));
    }

    #[test]
    fn broken_networks_are_errors_naming_the_file() {
        let error = SumoNetwork::parse("<net><tlLogic", "broken.net.xml").expect_err("not XML");
        assert!(error.to_string().contains("broken.net.xml"), "{error}");
        let uneven = r#"<net><tlLogic id="x"><phase duration="5" state="Gr"/><phase duration="5" state="G"/></tlLogic></net>"#;
        let error = SumoNetwork::parse(uneven, "uneven.net.xml").expect_err("uneven states");
        assert!(
            error.to_string().contains("tlLogic x")
                || error.to_string().contains("traffic light x"),
            "{error}"
        );
    }
}
