//! Routes across cameras: the same plate seen at camera after camera, joined into one trip when
//! the travel times fit the road between them.
//!
//! Pure: plate sightings in, routes out. The rules, in time order per plate:
//!
//! - a sighting at the camera the route was last seen at, within `same_camera_s`, is the same
//!   pass (it is kept only if its read is more confident);
//! - a sighting at another camera extends the route when the hop is plausible: with a
//!   configured link between the two cameras, the travel time must lie within
//!   `distance / max_speed ..= distance / min_speed`; without one, within `max_gap_s`. A link
//!   serves both ways unless it is `one_way`: then a trip the other way is as between
//!   unlinked cameras;
//! - a plate within one edit of the route's plate (an OCR misread: look-alikes such as 0/O and
//!   1/I cost half an edit) extends it only over a configured link with a fitting travel time,
//!   never on the time gap alone;
//! - otherwise the sighting starts a new route (of its own plate).
//!
//! A route's plate is the one most of its sure sightings read; between equally many, the
//! reads' summed confidence decides.
//!
//! A sighting less confident than `anchor_confidence` is a candidate (the plate stage's
//! `candidate_confidence ..< emit_confidence`: a small plate no read was sure of). Candidates
//! never decide a sure route's plate. Once the sure sightings have made their routes, each
//! candidate (the most confident first, and again until none joins) joins the route whose
//! plate it matches within one edit, where a configured link on each side of it has a fitting
//! travel time: the pass a route missed at a camera between or around its sure sightings. A
//! candidate that is the route's plate's bottom row read alone (digits only: `29969` for
//! `59S229969`, see [`roadsight_core::plate_match::bottom_row_reads`]) matches it as one edit
//! would.
//! The candidates left over (with `candidate_routes`) are chained among themselves in time
//! order, over configured links with fitting travel times and plates within one edit, the most
//! confident read deciding each chain's plate: where two or more cameras agree, the unsure
//! reads vouch for each other and make a route (all its sightings still marked candidates). A
//! candidate that fits no route, or whose chain has one camera, is left out.
//!
//! Last, a route may take a pass by its vehicle's look alone (`appearance_max_distance`): a
//! sighting with an empty plate (a `vehicle_pass`: the plate stage read the vehicle but voted
//! no plate), or a candidate left out above. Such a pass joins the route where a configured
//! link with a fitting travel time leads to it from the route's sighting before it (and to the
//! one after), and its look is within `appearance_max_distance` of the look of one of the
//! route's sightings. The nearest pairs go first; each pass joins one route and each route takes
//! one pass per round, and rounds repeat while any joins (a route that took a pass at its end
//! may reach one more camera). Such a sighting stays marked a candidate, with its distance
//! (`appearance_distance`): the look says which vehicle, never which plate.
//!
//! From routes come travel times per camera pair and origin-destination matrices per interval.

use roadsight_core::plate_match::{
    bottom_row_reads, is_bottom_row_of, single_deletions, weighted_distance,
};
use roadsight_core::{Appearance, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One plate read at one camera (a store sighting), or a vehicle's pass with no plate voted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateSighting {
    /// Empty for a pass with no plate voted (a `vehicle_pass`).
    pub plate: String,
    pub camera: String,
    pub at: Timestamp,
    pub confidence: f32,
    /// The event it came from, for evidence links.
    pub event_id: String,
    pub evidence: Option<String>,
    /// Less confident than `anchor_confidence`: it only fills a pass its route missed. Set by
    /// [`trace_routes`] on the sightings of the routes it returns (its input's is ignored).
    #[serde(default)]
    pub candidate: bool,
    /// The vehicle's look, where the plate stage gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<Appearance>,
    /// Joined its route by its look alone, this far from the nearest look of the route. Set by
    /// [`trace_routes`] (its input's is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance_distance: Option<f32>,
}

impl PlateSighting {
    /// A pass with no plate voted (a `vehicle_pass`).
    pub fn is_plateless(&self) -> bool {
        self.plate.is_empty()
    }
}

pub use roadsight_core::config::{CameraLinkConfig as CameraLink, RoutesConfig as RouteSettings};

/// One hop of a route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leg {
    pub from: String,
    pub to: String,
    pub seconds: f64,
    /// Whether a configured link vouched for the travel time.
    pub on_link: bool,
}

/// One trip of one plate across cameras.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// The plate as most of its sightings read it.
    pub plate: String,
    pub sightings: Vec<PlateSighting>,
    pub legs: Vec<Leg>,
}

impl Route {
    pub fn cameras(&self) -> Vec<&str> {
        self.sightings.iter().map(|s| s.camera.as_str()).collect()
    }

    pub fn start(&self) -> Option<Timestamp> {
        self.sightings.first().map(|s| s.at)
    }
}

/// The configured links by camera, built once per tracing (a city has hundreds of links, a
/// camera a few), with the settings they come from.
struct Links<'a> {
    settings: &'a RouteSettings,
    /// Per camera, its links, each with the camera at its other end.
    at_camera: HashMap<&'a str, Vec<(&'a str, &'a CameraLink)>>,
}

impl<'a> Links<'a> {
    fn new(settings: &'a RouteSettings) -> Self {
        let mut at_camera: HashMap<&str, Vec<(&str, &CameraLink)>> = HashMap::new();
        for link in &settings.links {
            at_camera
                .entry(link.from.as_str())
                .or_default()
                .push((link.to.as_str(), link));
            at_camera
                .entry(link.to.as_str())
                .or_default()
                .push((link.from.as_str(), link));
        }
        Self {
            settings,
            at_camera,
        }
    }

    /// The links at `camera`, each with the camera at its other end.
    fn at(&self, camera: &str) -> &[(&'a str, &'a CameraLink)] {
        self.at_camera.get(camera).map_or(&[], Vec::as_slice)
    }

    /// The links at `camera` that lead a trip on from it (`later`) or to it, each with the
    /// camera at its other end: a one-way link only in its own direction.
    fn leading<'s>(
        &'s self,
        camera: &'s str,
        later: bool,
    ) -> impl Iterator<Item = (&'a str, &'a CameraLink)> + 's {
        self.at(camera)
            .iter()
            .filter(move |(other, link)| {
                if later {
                    link.leads(camera, other)
                } else {
                    link.leads(other, camera)
                }
            })
            .copied()
    }

    /// The link a trip from camera `a` to camera `b` takes, if any (a one-way link only in
    /// its own direction).
    fn between(&self, a: &str, b: &str) -> Option<&'a CameraLink> {
        self.at(a)
            .iter()
            .find(|(other, link)| *other == b && link.leads(a, b))
            .map(|(_, link)| *link)
    }
}

/// Where a pass with no plate voted would have to be to join the routes of `sightings` by its
/// look (the join route tracing makes last): at each camera a configured link joins to the
/// camera of a sighting with a look, in the link's travel window after that sighting and
/// before it, unless one of `sightings` is there then already. `(camera, from, to)`, ends
/// included, a window per sighting, link and direction; none when looks never join
/// (`appearance_max_distance` 0). What a trace reads from the store beside a plate's routes.
pub fn pass_windows<'a>(
    sightings: &[&PlateSighting],
    settings: &'a RouteSettings,
) -> Vec<(&'a str, Timestamp, Timestamp)> {
    if settings.appearance_max_distance <= 0.0 {
        return Vec::new();
    }
    let links = Links::new(settings);
    let mut windows = Vec::new();
    for sighting in sightings.iter().filter(|s| s.appearance.is_some()) {
        for later in [true, false] {
            for (other, link) in links.leading(&sighting.camera, later) {
                let (from, to) = link.reach_from(sighting.at, later);
                let read_there = sightings
                    .iter()
                    .any(|s| s.camera == other && s.at >= from && s.at <= to);
                if !read_there {
                    windows.push((other, from, to));
                }
            }
        }
    }
    windows
}

/// Whether `next` can follow `last` on one trip, and whether a link vouched for it.
fn hop(links: &Links<'_>, last: &PlateSighting, next: &PlateSighting, exact: bool) -> Option<bool> {
    let seconds = next.at.duration_since(last.at).as_secs_f64();
    match links.between(&last.camera, &next.camera) {
        Some(link) => {
            let (shortest, longest) = link.travel_window_s();
            (seconds >= shortest && seconds <= longest).then_some(true)
        }
        None => (exact && seconds <= links.settings.max_gap_s).then_some(false),
    }
}

/// Groups plates one edit apart (through their deletion neighbourhoods), and a plate with its
/// bottom row read alone.
fn plate_groups(plates: &[String], fuzzy: bool) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..plates.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    if fuzzy {
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, plate) in plates.iter().enumerate() {
            by_key.entry(plate.clone()).or_default().push(index);
            for variant in single_deletions(plate) {
                by_key.entry(variant).or_default().push(index);
            }
        }
        for members in by_key.values() {
            for pair in members.windows(2) {
                let (a, b) = (root(&mut parent, pair[0]), root(&mut parent, pair[1]));
                if a != b && weighted_distance(&plates[pair[0]], &plates[pair[1]]) <= 1.0 {
                    parent[a] = b;
                }
            }
        }
        // A plate's bottom row read alone goes with the plate (every plate is a key above).
        for (index, plate) in plates.iter().enumerate() {
            for read in bottom_row_reads(plate) {
                let alone = by_key
                    .get(read)
                    .and_then(|members| members.iter().copied().find(|&i| plates[i] == read));
                if let Some(alone) = alone {
                    let (a, b) = (root(&mut parent, alone), root(&mut parent, index));
                    if a != b {
                        parent[a] = b;
                    }
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for index in 0..plates.len() {
        let group = root(&mut parent, index);
        groups.entry(group).or_default().push(index);
    }
    groups.into_values().collect()
}

/// Traces every plate's routes, oldest route first.
pub fn trace_routes(sightings: Vec<PlateSighting>, settings: &RouteSettings) -> Vec<Route> {
    let links = Links::new(settings);
    let (mut passes, mut sightings): (Vec<PlateSighting>, Vec<PlateSighting>) =
        sightings.into_iter().partition(PlateSighting::is_plateless);
    for sighting in &mut sightings {
        sighting.candidate = settings.is_candidate(sighting.confidence);
        sighting.appearance_distance = None;
    }
    for pass in &mut passes {
        pass.candidate = true;
        pass.appearance_distance = None;
    }
    sightings.sort_by(|a, b| a.at.cmp(&b.at).then(a.camera.cmp(&b.camera)));
    let mut plates: Vec<String> = sightings.iter().map(|s| s.plate.clone()).collect();
    plates.sort();
    plates.dedup();
    // Every plate group's routes with their plates, then the passes no route took.
    let mut traced: Vec<(Vec<PlateSighting>, String)> = Vec::new();
    for group in plate_groups(&plates, settings.fuzzy) {
        let members: Vec<&str> = group.iter().map(|i| plates[*i].as_str()).collect();
        let (sure, mut candidates): (Vec<&PlateSighting>, Vec<&PlateSighting>) = sightings
            .iter()
            .filter(|s| members.contains(&s.plate.as_str()))
            .partition(|s| !s.candidate);
        let mut open = chain(sure, &links, majority_plate, false);
        // Each route's plate, decided by its sure sightings before any candidate joins.
        let route_plates: Vec<String> =
            open.iter().map(|r| majority_plate(r).to_string()).collect();
        candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.at.cmp(&b.at)));
        // Again until none joins: a candidate whose link to the route runs through a camera
        // only another candidate fills (km0 sure, km10 and km05 unsure) joins once that one has.
        let mut left_over = candidates;
        loop {
            let waiting = left_over.len();
            left_over
                .retain(|candidate| !join_candidate(&mut open, &route_plates, candidate, &links));
            if left_over.len() == waiting {
                break;
            }
        }
        let mut routes_of_plates: Vec<(Vec<PlateSighting>, String)> =
            open.into_iter().zip(route_plates).collect();
        if settings.candidate_routes {
            // Back in time order; a chain of candidates is named by its surest read, and one
            // that stays at one camera is left to join a route by its look.
            left_over.sort_by(|a, b| a.at.cmp(&b.at).then(a.camera.cmp(&b.camera)));
            for route in chain(left_over, &links, most_confident_plate, true) {
                if distinct_cameras(&route) >= 2 {
                    let plate = most_confident_plate(&route).to_string();
                    routes_of_plates.push((route, plate));
                } else {
                    passes.extend(route);
                }
            }
        } else {
            passes.extend(left_over.into_iter().cloned());
        }
        traced.extend(routes_of_plates);
    }
    if settings.appearance_max_distance > 0.0 {
        join_by_appearance(&mut traced, passes, &links);
    }
    let mut routes = Vec::new();
    for (route, plate) in traced {
        let legs = route
            .windows(2)
            .map(|pair| Leg {
                from: pair[0].camera.clone(),
                to: pair[1].camera.clone(),
                seconds: pair[1].at.duration_since(pair[0].at).as_secs_f64(),
                on_link: links.between(&pair[0].camera, &pair[1].camera).is_some(),
            })
            .collect();
        routes.push(Route {
            plate,
            sightings: route,
            legs,
        });
    }
    routes.sort_by(|a, b| a.start().cmp(&b.start()).then(a.plate.cmp(&b.plate)));
    routes
}

/// Whether two sightings are one pass: the same camera, within `same_camera_s` of each other
/// (in either order).
fn one_pass(settings: &RouteSettings, a: &PlateSighting, b: &PlateSighting) -> bool {
    let gap = if a.at <= b.at {
        b.at.duration_since(a.at)
    } else {
        a.at.duration_since(b.at)
    };
    a.camera == b.camera && gap.as_secs_f64() <= settings.same_camera_s
}

/// Where a candidate goes in a route.
#[derive(Clone, Copy)]
enum Placement {
    /// The same pass as the sighting at this index.
    SamePass(usize),
    /// A pass of its own, inserted at this index.
    Insert(usize),
}

/// Joins `sightings`, in time order, into trips. Each continues the most recent trip whose
/// plate (as `name` reads the trip) it matches within one edit, and whose last sighting it
/// either repeats (the same camera within `same_camera_s`: one pass, the surer read kept) or
/// follows on a plausible hop; otherwise it starts a trip of its own. A hop needs a configured
/// link with a fitting travel time, except for a plate equal to the trip's, which may hop on
/// the time gap alone, unless `links_only` (unsure sightings, which only a link vouches for).
fn chain<'a>(
    sightings: impl IntoIterator<Item = &'a PlateSighting>,
    links: &Links<'_>,
    name: fn(&[PlateSighting]) -> &str,
    links_only: bool,
) -> Vec<Vec<PlateSighting>> {
    let settings = links.settings;
    let mut trips: Vec<Vec<PlateSighting>> = Vec::new();
    for sighting in sightings {
        let mut chosen: Option<usize> = None;
        for (index, trip) in trips.iter().enumerate() {
            let Some(last) = trip.last() else { continue };
            let plate = name(trip);
            let exact = plate == sighting.plate;
            let close = exact || weighted_distance(plate, &sighting.plate) <= 1.0;
            let fits = close
                && (one_pass(settings, last, sighting)
                    || (last.camera != sighting.camera
                        && hop(links, last, sighting, exact && !links_only).is_some()));
            if fits && chosen.is_none_or(|c| trips[c].last().is_some_and(|l| l.at <= last.at)) {
                chosen = Some(index);
            }
        }
        match chosen {
            Some(index) => {
                let trip = &mut trips[index];
                match trip.last_mut() {
                    Some(last) if last.camera == sighting.camera => {
                        if sighting.confidence > last.confidence {
                            *last = sighting.clone();
                        }
                    }
                    _ => trip.push(sighting.clone()),
                }
            }
            None => trips.push(vec![sighting.clone()]),
        }
    }
    trips
}

/// The plate of the most confident sighting of `route` (the earliest on a tie).
fn most_confident_plate(route: &[PlateSighting]) -> &str {
    route
        .iter()
        .rev()
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
        .map_or("", |s| s.plate.as_str())
}

/// How many different cameras saw `route`.
fn distinct_cameras(route: &[PlateSighting]) -> usize {
    let mut cameras: Vec<&str> = route.iter().map(|s| s.camera.as_str()).collect();
    cameras.sort_unstable();
    cameras.dedup();
    cameras.len()
}

/// Puts `candidate` into the route it fits best (the nearest plate, then the earliest route):
/// its plate within one edit of the route's, and a configured link with a fitting travel time
/// from the sighting before it and to the one after. At a camera the route already has within
/// `same_camera_s`, it is the same pass and replaces a less confident candidate only. Whether
/// it found a route.
fn join_candidate(
    open: &mut [Vec<PlateSighting>],
    route_plates: &[String],
    candidate: &PlateSighting,
    links: &Links<'_>,
) -> bool {
    let settings = links.settings;
    let mut best: Option<(f64, usize, Placement)> = None;
    for (index, (route, plate)) in open.iter().zip(route_plates).enumerate() {
        // A bottom row read alone counts as one edit away.
        let distance = if settings.fuzzy && is_bottom_row_of(&candidate.plate, plate) {
            1.0
        } else {
            weighted_distance(plate, &candidate.plate)
        };
        let close = if settings.fuzzy {
            distance <= 1.0
        } else {
            *plate == candidate.plate
        };
        if !close || best.is_some_and(|(d, _, _)| d <= distance) {
            continue;
        }
        let position = route.partition_point(|s| s.at <= candidate.at);
        let before = position.checked_sub(1).and_then(|i| route.get(i));
        let after = route.get(position);
        let placement = if before.is_some_and(|b| one_pass(settings, b, candidate)) {
            Some(Placement::SamePass(position - 1))
        } else if after.is_some_and(|a| one_pass(settings, candidate, a)) {
            Some(Placement::SamePass(position))
        } else {
            (before.is_none_or(|b| hop(links, b, candidate, false).is_some())
                && after.is_none_or(|a| hop(links, candidate, a, false).is_some()))
            .then_some(Placement::Insert(position))
        };
        if let Some(placement) = placement {
            best = Some((distance, index, placement));
        }
    }
    let Some((_, index, placement)) = best else {
        return false;
    };
    let route = &mut open[index];
    match placement {
        Placement::SamePass(i) => {
            if route[i].confidence < candidate.confidence {
                route[i] = candidate.clone();
            }
        }
        Placement::Insert(position) => route.insert(position, candidate.clone()),
    }
    true
}

/// One way a pass could join a route by its look.
struct LookMatch {
    distance: f32,
    route: usize,
    pass: usize,
    /// Where in the route it goes.
    position: usize,
}

/// Joins passes (plate-less sightings and candidates no route took) to routes by their look:
/// see the module documentation.
fn join_by_appearance(
    routes: &mut [(Vec<PlateSighting>, String)],
    passes: Vec<PlateSighting>,
    links: &Links<'_>,
) {
    let settings = links.settings;
    // Per camera, the passes with a look, in time order.
    let mut by_camera: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, pass) in passes.iter().enumerate() {
        if pass.appearance.is_some() {
            by_camera
                .entry(pass.camera.as_str())
                .or_default()
                .push(index);
        }
    }
    for indices in by_camera.values_mut() {
        indices.sort_by_key(|&i| passes[i].at);
    }
    let mut taken = vec![false; passes.len()];
    loop {
        let mut matches = Vec::new();
        for (route_index, (route, _)) in routes.iter().enumerate() {
            let looks: Vec<&Appearance> =
                route.iter().filter_map(|s| s.appearance.as_ref()).collect();
            if looks.is_empty() {
                continue;
            }
            for position in 0..=route.len() {
                let before = position.checked_sub(1).and_then(|i| route.get(i));
                let after = route.get(position);
                let Some(anchor) = before.or(after) else {
                    continue;
                };
                let later = before.is_some();
                for (other, link) in links.leading(&anchor.camera, later) {
                    let Some(indices) = by_camera.get(other) else {
                        continue;
                    };
                    let (from, to) = link.reach_from(anchor.at, later);
                    let start = indices.partition_point(|&i| passes[i].at < from);
                    for &pass_index in &indices[start..] {
                        let pass = &passes[pass_index];
                        if pass.at > to {
                            break;
                        }
                        if taken[pass_index]
                            || before.is_some_and(|b| {
                                one_pass(settings, b, pass) || hop(links, b, pass, false).is_none()
                            })
                            || after.is_some_and(|a| {
                                one_pass(settings, pass, a) || hop(links, pass, a, false).is_none()
                            })
                        {
                            continue;
                        }
                        let Some(look) = &pass.appearance else {
                            continue;
                        };
                        let distance = looks
                            .iter()
                            .map(|l| l.distance(look))
                            .fold(f32::INFINITY, f32::min);
                        if distance <= settings.appearance_max_distance {
                            matches.push(LookMatch {
                                distance,
                                route: route_index,
                                pass: pass_index,
                                position,
                            });
                        }
                    }
                }
            }
        }
        matches.sort_by(|a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then(a.route.cmp(&b.route))
                .then(a.pass.cmp(&b.pass))
        });
        let mut changed = vec![false; routes.len()];
        let mut joined = 0;
        for found in matches {
            if taken[found.pass] || changed[found.route] {
                continue;
            }
            taken[found.pass] = true;
            changed[found.route] = true;
            let mut pass = passes[found.pass].clone();
            pass.appearance_distance = Some(found.distance);
            routes[found.route].0.insert(found.position, pass);
            joined += 1;
        }
        if joined == 0 {
            break;
        }
    }
}

/// The plate most sightings of `route` read; on a tie, the one read with more confidence in
/// all (`59V23815` at 0.74 against `59V234815` at 0.75: one read dropped a character), then
/// the earliest.
fn majority_plate(route: &[PlateSighting]) -> &str {
    let mut votes: Vec<(&str, usize, f64)> = Vec::new();
    for sighting in route {
        let confidence = f64::from(sighting.confidence);
        match votes
            .iter_mut()
            .find(|(plate, _, _)| *plate == sighting.plate)
        {
            Some((_, count, sum)) => {
                *count += 1;
                *sum += confidence;
            }
            None => votes.push((&sighting.plate, 1, confidence)),
        }
    }
    votes
        .iter()
        .enumerate()
        .max_by(|(ia, (_, count_a, sum_a)), (ib, (_, count_b, sum_b))| {
            count_a
                .cmp(count_b)
                .then(sum_a.total_cmp(sum_b))
                .then(ib.cmp(ia))
        })
        .map_or("", |(_, (plate, _, _))| plate)
}

/// Trips between two cameras, and their travel times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TravelTime {
    pub from: String,
    pub to: String,
    pub trips: usize,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
}

/// Travel times per camera pair over `routes`' legs.
pub fn travel_times(routes: &[Route]) -> Vec<TravelTime> {
    let mut pairs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for leg in routes.iter().flat_map(|r| &r.legs) {
        pairs
            .entry((leg.from.clone(), leg.to.clone()))
            .or_default()
            .push(leg.seconds);
    }
    pairs
        .into_iter()
        .map(|((from, to), mut seconds)| {
            seconds.sort_by(f64::total_cmp);
            let middle = seconds.len() / 2;
            let median_s = if seconds.len() % 2 == 1 {
                seconds[middle]
            } else {
                (seconds[middle - 1] + seconds[middle]) / 2.0
            };
            TravelTime {
                from,
                to,
                trips: seconds.len(),
                median_s,
                min_s: seconds[0],
                max_s: seconds[seconds.len() - 1],
            }
        })
        .collect()
}

/// Trips from an origin camera (a route's first) to a destination (its last), per interval of
/// the route's start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OdCell {
    pub interval_start: Timestamp,
    pub interval_s: u64,
    pub origin: String,
    pub destination: String,
    pub trips: usize,
}

/// The origin-destination matrix of `routes`, one cell per interval, origin and destination
/// with at least one trip. Routes seen at one camera only are not trips and are left out.
pub fn od_matrix(routes: &[Route], interval_s: u64) -> Vec<OdCell> {
    let interval_ns = i64::try_from(interval_s.max(1))
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000_000);
    let mut cells: BTreeMap<(i64, String, String), usize> = BTreeMap::new();
    for route in routes.iter().filter(|r| r.sightings.len() >= 2) {
        let (Some(first), Some(last)) = (route.sightings.first(), route.sightings.last()) else {
            continue;
        };
        let start = first.at.as_nanos().div_euclid(interval_ns) * interval_ns;
        *cells
            .entry((start, first.camera.clone(), last.camera.clone()))
            .or_default() += 1;
    }
    cells
        .into_iter()
        .map(|((start, origin, destination), trips)| OdCell {
            interval_start: Timestamp::from_nanos(start),
            interval_s,
            origin,
            destination,
            trips,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn seen(plate: &str, camera: &str, seconds: u64) -> PlateSighting {
        PlateSighting {
            plate: plate.into(),
            camera: camera.into(),
            at: Timestamp::UNIX_EPOCH.plus(Duration::from_secs(1_000_000 + seconds)),
            confidence: 0.9,
            event_id: format!("{plate}-{camera}-{seconds}"),
            evidence: None,
            candidate: false,
            appearance: None,
            appearance_distance: None,
        }
    }

    fn corridor() -> RouteSettings {
        let link = |from: &str, to: &str| CameraLink {
            from: from.into(),
            to: to.into(),
            distance_m: 1000.0,
            min_speed_kmh: 10.0,
            max_speed_kmh: 90.0,
            one_way: false,
        };
        // 1 km apart: 40 s at 90 km/h to 360 s at 10 km/h.
        RouteSettings {
            links: vec![link("a", "b"), link("b", "c")],
            ..RouteSettings::default()
        }
    }

    /// A look mostly of one colour: `share` basis points in bin 5, the rest in bin 6.
    fn look(share: u16) -> Appearance {
        let mut bins = vec![0u16; roadsight_core::appearance::APPEARANCE_BINS];
        bins[5] = share;
        bins[6] = 10_000 - share;
        Appearance::try_from(bins).expect("64 bins")
    }

    fn looking(sighting: PlateSighting, share: u16) -> PlateSighting {
        PlateSighting {
            appearance: Some(look(share)),
            ..sighting
        }
    }

    /// A pass with no plate voted, with its look.
    fn pass(camera: &str, seconds: u64, share: u16) -> PlateSighting {
        PlateSighting {
            confidence: 0.0,
            ..looking(seen("", camera, seconds), share)
        }
    }

    /// Each sighting's camera, and its distance if it joined by its look.
    type JoinedCameras<'a> = Vec<(&'a str, Option<f32>)>;

    fn plates_cameras_and_distances(routes: &[Route]) -> Vec<(&str, JoinedCameras<'_>)> {
        routes
            .iter()
            .map(|r| {
                (
                    r.plate.as_str(),
                    r.sightings
                        .iter()
                        .map(|s| (s.camera.as_str(), s.appearance_distance))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_pass_with_no_plate_joins_the_route_it_looks_like() {
        // 59A12345 is read at a; at b two vehicles pass with no plate read, in the travel
        // window: the one that looks like it (distance 0.005) joins, the other (0.051) not.
        let routes = trace_routes(
            vec![
                looking(seen("59A12345", "a", 0), 10_000),
                pass("b", 100, 9_000),
                pass("b", 110, 9_900),
            ],
            &corridor(),
        );
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].plate, "59A12345");
        assert_eq!(routes[0].cameras(), ["a", "b"]);
        let joined = &routes[0].sightings[1];
        assert!(joined.is_plateless() && joined.candidate);
        assert_eq!(joined.at, seen("", "b", 110).at);
        assert!(joined
            .appearance_distance
            .is_some_and(|d| (d - 0.005).abs() < 1e-3));
        assert!(routes[0].legs[0].on_link);
    }

    #[test]
    fn a_pass_joins_only_within_the_travel_window_and_the_distance() {
        let sure = || looking(seen("59A12345", "b", 1000), 10_000);
        for (passes, settings, why) in [
            // 20 s from a to b is 180 km/h; 500 s is 7 km/h; c is not linked to a.
            (
                vec![pass("a", 980, 10_000), pass("a", 500, 10_000)],
                corridor(),
                "travel time",
            ),
            (
                vec![pass("b", 1200, 10_000)],
                corridor(),
                "the route's own camera",
            ),
            (vec![pass("c", 1100, 9_000)], corridor(), "look"),
            (
                vec![pass("c", 1100, 10_000)],
                RouteSettings {
                    appearance_max_distance: 0.0,
                    ..corridor()
                },
                "turned off",
            ),
            (
                vec![PlateSighting {
                    appearance: None,
                    ..pass("c", 1100, 10_000)
                }],
                corridor(),
                "no look",
            ),
        ] {
            let mut sightings = vec![sure()];
            sightings.extend(passes);
            let routes = trace_routes(sightings, &settings);
            assert_eq!(
                plates_cameras_and_distances(&routes),
                vec![("59A12345", vec![("b", None)])],
                "{why}"
            );
        }
        // Without a look on the route's side, nothing joins either.
        let routes = trace_routes(
            vec![seen("59A12345", "b", 1000), pass("c", 1100, 10_000)],
            &corridor(),
        );
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].cameras(), ["b"]);
    }

    #[test]
    fn each_pass_joins_the_nearest_route_and_each_route_one_pass_per_camera() {
        // Two vehicles read at a, alike but not the same (distance 0.005); one pass at b looks
        // exactly like the first, and two passes at b look like the second.
        let routes = trace_routes(
            vec![
                looking(seen("59A11111", "a", 0), 10_000),
                looking(seen("59A22222", "a", 10), 9_900),
                pass("b", 100, 10_000),
                pass("b", 105, 9_900),
                pass("b", 108, 9_890),
            ],
            &corridor(),
        );
        let found = plates_cameras_and_distances(&routes);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], ("59A11111", vec![("a", None), ("b", Some(0.0))]));
        assert_eq!(found[1].0, "59A22222");
        assert_eq!(found[1].1.len(), 2, "one pass at b: {found:?}");
        assert_eq!(routes[1].sightings[1].at, seen("", "b", 105).at);
    }

    #[test]
    fn passes_fill_the_middle_camera_and_extend_the_route_round_by_round() {
        // Sure at a and c (the plate hops a -> c on the time gap), a pass at b between them fits
        // both links; another route, sure at c only, takes b and then a in two rounds.
        let routes = trace_routes(
            vec![
                looking(seen("59A11111", "a", 0), 10_000),
                pass("b", 100, 10_000),
                looking(seen("59A11111", "c", 200), 10_000),
                pass("a", 1000, 2_000),
                pass("b", 1100, 2_000),
                looking(seen("59A22222", "c", 1200), 2_000),
            ],
            &corridor(),
        );
        assert_eq!(
            routes
                .iter()
                .map(|r| (r.plate.as_str(), r.cameras()))
                .collect::<Vec<_>>(),
            vec![
                ("59A11111", vec!["a", "b", "c"]),
                ("59A22222", vec!["a", "b", "c"])
            ]
        );
        assert!(routes[1].sightings[..2].iter().all(|s| s.is_plateless()));
    }

    #[test]
    fn a_candidate_no_route_took_joins_by_its_look_keeping_its_read() {
        // AASH030 is two edits from AASH938: no plate rule joins it, its look does.
        let candidate = PlateSighting {
            confidence: 0.3,
            ..looking(seen("AASH030", "c", 150), 10_000)
        };
        let routes = trace_routes(
            vec![
                looking(seen("AASH938", "a", 0), 10_000),
                looking(seen("AASH938", "b", 70), 10_000),
                candidate,
            ],
            &corridor(),
        );
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].plate, "AASH938");
        assert_eq!(routes[0].cameras(), ["a", "b", "c"]);
        assert_eq!(routes[0].sightings[2].plate, "AASH030");
        assert!(routes[0].sightings[2].candidate);
    }

    #[test]
    fn a_plate_along_linked_cameras_is_one_route_with_its_legs() {
        let routes = trace_routes(
            vec![
                seen("51G12345", "a", 0),
                seen("51G12345", "b", 100),
                seen("51G12345", "c", 250),
            ],
            &corridor(),
        );
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].cameras(), ["a", "b", "c"]);
        assert_eq!(
            routes[0].legs.iter().map(|l| l.seconds).collect::<Vec<_>>(),
            [100.0, 150.0]
        );
        assert!(routes[0].legs.iter().all(|l| l.on_link));
    }

    #[test]
    fn an_impossible_travel_time_splits_the_trip() {
        // 10 s for 1 km is 360 km/h: not the same trip; 2 hours later neither.
        let routes = trace_routes(
            vec![
                seen("51G12345", "a", 0),
                seen("51G12345", "b", 10),
                seen("51G12345", "c", 7200),
            ],
            &corridor(),
        );
        assert_eq!(
            routes.iter().map(Route::cameras).collect::<Vec<_>>(),
            vec![vec!["a"], vec!["b"], vec!["c"]]
        );
    }

    #[test]
    fn a_plate_two_edits_from_the_trip_does_not_hop_onto_it() {
        // 51G12345 and 51G12356 are two edits apart, one each from 51G12346, seen much later:
        // the three share a fuzzy group, but only a plate one edit from the trip's joins it.
        let routes = trace_routes(
            vec![
                seen("51G12345", "a", 0),
                seen("51G12356", "b", 100),
                seen("51G12346", "c", 9000),
            ],
            &corridor(),
        );
        assert_eq!(
            plates_and_cameras(&routes),
            vec![
                ("51G12345", vec!["a"]),
                ("51G12356", vec!["b"]),
                ("51G12346", vec!["c"])
            ]
        );
    }

    #[test]
    fn a_one_character_misread_joins_only_over_a_fitting_link() {
        let routes = trace_routes(
            vec![
                seen("51G12345", "a", 0),
                seen("5IG12345", "b", 100), // I for 1
                seen("51G12345", "c", 250),
                seen("51G12346", "a", 5000), // one edit, but far in time: its own route
            ],
            &corridor(),
        );
        assert_eq!(routes.len(), 2, "{routes:?}");
        assert_eq!(routes[0].plate, "51G12345");
        assert_eq!(routes[0].cameras(), ["a", "b", "c"]);
        assert_eq!(
            routes[0].sightings[1].plate, "5IG12345",
            "the read is kept as read"
        );
        assert_eq!(routes[1].plate, "51G12346");
        // Without fuzzy matching the misread is a route of its own.
        let strict = RouteSettings {
            fuzzy: false,
            ..corridor()
        };
        assert_eq!(
            trace_routes(
                vec![seen("51G12345", "a", 0), seen("5IG12345", "b", 100)],
                &strict
            )
            .len(),
            2
        );
    }

    #[test]
    fn a_one_way_link_vouches_only_for_trips_its_way() {
        let one_way = RouteSettings {
            links: corridor()
                .links
                .into_iter()
                .map(|link| CameraLink {
                    one_way: true,
                    ..link
                })
                .collect(),
            ..corridor()
        };
        // A pass at a 100 s after the route's read at b: b to a is the wrong way.
        let backward_pass = vec![
            looking(seen("59A12345", "b", 1000), 10_000),
            pass("a", 1100, 10_000),
            pass("c", 1100, 10_000),
        ];
        assert_eq!(
            trace_routes(backward_pass.clone(), &corridor())[0].cameras(),
            ["b", "a"],
            "both ways, the first pass in a travel window joins"
        );
        assert_eq!(
            trace_routes(backward_pass, &one_way)[0].cameras(),
            ["b", "c"]
        );
        // A misread at a after b: no link vouches for it, so it stays a route of its own.
        let backward_misread = vec![seen("51G12345", "b", 0), seen("5IG12345", "a", 100)];
        assert_eq!(trace_routes(backward_misread.clone(), &corridor()).len(), 1);
        assert_eq!(trace_routes(backward_misread, &one_way).len(), 2);
        // The same plate the wrong way hops as between unlinked cameras, on the time gap.
        let routes = trace_routes(
            vec![seen("51G12345", "b", 0), seen("51G12345", "a", 100)],
            &one_way,
        );
        assert_eq!(
            plates_and_cameras(&routes),
            vec![("51G12345", vec!["b", "a"])]
        );
        assert!(!routes[0].legs[0].on_link);
        // A trace reads passes only where a trip its way could have been.
        let at_b = looking(seen("59A12345", "b", 1000), 10_000);
        let windows = pass_windows(&[&at_b], &one_way);
        let cameras: Vec<&str> = windows.iter().map(|(camera, _, _)| *camera).collect();
        assert_eq!(cameras, ["c", "a"], "{windows:?}");
        assert!(windows[0].1 > at_b.at && windows[1].2 < at_b.at);
        assert_eq!(pass_windows(&[&at_b], &corridor()).len(), 4);
    }

    #[test]
    fn two_reads_one_edit_apart_name_the_route_by_the_more_confident() {
        // One read each way: the first read dropped a character and is a little less sure.
        let with_confidence = |sighting: PlateSighting, confidence: f32| PlateSighting {
            confidence,
            ..sighting
        };
        let routes = trace_routes(
            vec![
                with_confidence(seen("59V23815", "a", 0), 0.74),
                with_confidence(seen("59V234815", "b", 100), 0.75),
            ],
            &corridor(),
        );
        assert_eq!(routes.len(), 1, "{routes:?}");
        assert_eq!(routes[0].plate, "59V234815");
        assert_eq!(routes[0].cameras(), ["a", "b"]);
        // Two reads outvote one surer one.
        let routes = trace_routes(
            vec![
                with_confidence(seen("59V23815", "a", 0), 0.6),
                with_confidence(seen("59V234815", "b", 100), 0.95),
                with_confidence(seen("59V23815", "c", 250), 0.6),
            ],
            &corridor(),
        );
        assert_eq!(routes.len(), 1, "{routes:?}");
        assert_eq!(routes[0].plate, "59V23815");
    }

    #[test]
    fn repeated_reads_at_one_camera_are_one_pass_and_two_trips_are_two_routes() {
        let routes = trace_routes(
            vec![
                seen("30A99999", "a", 0),
                seen("30A99999", "a", 3),
                seen("30A99999", "b", 120),
                // Back the other way an hour later (no link a-b time fits, so a new trip).
                seen("30A99999", "b", 3720),
                seen("30A99999", "a", 3800),
            ],
            &corridor(),
        );
        assert_eq!(
            routes.iter().map(Route::cameras).collect::<Vec<_>>(),
            vec![vec!["a", "b"], vec!["b", "a"]]
        );
        let od = od_matrix(&routes, 900);
        assert_eq!(od.len(), 2);
        assert_eq!(
            (
                od[0].origin.as_str(),
                od[0].destination.as_str(),
                od[0].trips
            ),
            ("a", "b", 1)
        );
        let times = travel_times(&routes);
        assert_eq!(times.len(), 2);
        assert_eq!(times[0].median_s, 120.0);
    }

    fn plates_and_cameras(routes: &[Route]) -> Vec<(&str, Vec<&str>)> {
        routes
            .iter()
            .map(|r| (r.plate.as_str(), r.cameras()))
            .collect()
    }

    fn unsure(plate: &str, camera: &str, seconds: u64) -> PlateSighting {
        PlateSighting {
            confidence: 0.3,
            ..seen(plate, camera, seconds)
        }
    }

    #[test]
    fn a_bottom_row_read_alone_joins_its_plate_s_route_as_a_candidate_over_links() {
        // 59-S2 299.69 read as its bottom row alone at a and b, whole at c.
        let vehicle = vec![
            unsure("29969", "a", 0),
            unsure("29969", "b", 100),
            seen("59S229969", "c", 200),
        ];
        let cameras_of_the_plate = |routes: &[Route]| {
            routes
                .iter()
                .find(|r| r.plate == "59S229969")
                .map(|r| r.cameras().join(" "))
        };
        let mut sightings = vehicle.clone();
        // The same digits on another vehicle, with no link that fits: left out; and digits
        // that are not the plate's number's end: a plate of their own.
        sightings.extend([unsure("29969", "a", 5000), unsure("22996", "b", 110)]);
        let routes = trace_routes(sightings, &corridor());
        assert_eq!(cameras_of_the_plate(&routes).as_deref(), Some("a b c"));
        let whole = routes.iter().find(|r| r.plate == "59S229969");
        assert!(whole.is_some_and(|r| r.sightings[..2].iter().all(|s| s.candidate)));
        assert!(routes
            .iter()
            .all(|r| r.plate == "59S229969" || r.cameras().len() == 1));
        // Without fuzzy matching the bottom row is a plate of its own.
        let exact = RouteSettings {
            fuzzy: false,
            ..corridor()
        };
        let routes = trace_routes(vehicle, &exact);
        assert_eq!(cameras_of_the_plate(&routes).as_deref(), Some("c"));
    }

    #[test]
    fn a_candidate_fills_the_pass_a_sure_route_missed_and_never_decides_its_plate() {
        let routes = trace_routes(
            vec![
                // A sure route a -> c missed b (no a-c link: joined on the time gap).
                seen("59T173281", "a", 0),
                unsure("59Y173281", "b", 100), // one edit off, fits both links
                seen("59T173281", "c", 250),
                // A candidate before a sure pass: it becomes the route's first camera.
                unsure("76G111649", "a", 1000),
                seen("76G111649", "b", 1100),
            ],
            &corridor(),
        );
        assert_eq!(
            plates_and_cameras(&routes),
            vec![
                ("59T173281", vec!["a", "b", "c"]),
                ("76G111649", vec!["a", "b"])
            ]
        );
        assert!(routes.iter().all(|r| r.legs.iter().all(|l| l.on_link)));
        assert_eq!(routes[0].sightings[1].plate, "59Y173281", "kept as read");
        assert_eq!(
            routes[0]
                .sightings
                .iter()
                .map(|s| s.candidate)
                .collect::<Vec<_>>(),
            [false, true, false],
            "marked for whoever reads the route"
        );
    }

    #[test]
    fn a_candidate_that_fits_no_sure_route_is_left_out() {
        let routes = trace_routes(
            vec![
                // Too far in time from the sure pass (360 s at most at 10 km/h).
                seen("30A99999", "a", 1000),
                unsure("30A99999", "b", 1500),
                // Two edits from the sure plate.
                seen("51G12345", "a", 5000),
                unsure("51G12399", "b", 5100),
                // No link between a and c: a candidate needs one on each side.
                seen("29B11111", "a", 9000),
                unsure("29B11111", "c", 9200),
            ],
            &corridor(),
        );
        assert_eq!(
            plates_and_cameras(&routes),
            vec![
                ("30A99999", vec!["a"]),
                ("51G12345", vec!["a"]),
                ("29B11111", vec!["a"])
            ]
        );
    }

    #[test]
    fn candidates_agreeing_at_two_linked_cameras_make_a_route_of_their_own() {
        let sightings = vec![
            // Two unsure reads one edit apart over the a-b link: the surer names the route.
            unsure("59X173281", "a", 0),
            PlateSighting {
                confidence: 0.35,
                ..unsure("59T173281", "b", 100)
            },
            // A lone candidate, and two at one camera only: no route.
            unsure("54T52159", "a", 2000),
            unsure("30A11111", "b", 4000),
            unsure("30A11111", "b", 4010),
            // Two edits apart: not the same plate.
            unsure("51G12345", "a", 6000),
            unsure("51G12399", "b", 6100),
            // No link between a and c.
            unsure("29B11111", "a", 9000),
            unsure("29B11111", "c", 9200),
        ];
        let routes = trace_routes(sightings.clone(), &corridor());
        assert_eq!(
            plates_and_cameras(&routes),
            vec![("59T173281", vec!["a", "b"])]
        );
        assert!(routes[0].sightings.iter().all(|s| s.candidate));
        assert_eq!(routes[0].sightings[0].plate, "59X173281", "kept as read");
        assert!(routes[0].legs.iter().all(|l| l.on_link));

        let without = RouteSettings {
            candidate_routes: false,
            ..corridor()
        };
        assert!(trace_routes(sightings, &without).is_empty());
    }

    #[test]
    fn a_candidate_joins_a_sure_route_before_making_one_with_other_candidates() {
        let routes = trace_routes(
            vec![
                seen("59T173281", "a", 0),
                unsure("59T173281", "b", 100),
                unsure("59T173281", "c", 200),
            ],
            &corridor(),
        );
        assert_eq!(
            plates_and_cameras(&routes),
            vec![("59T173281", vec!["a", "b", "c"])]
        );
    }

    #[test]
    fn a_candidate_beyond_another_joins_once_that_one_has() {
        // Sure at a; unsure at b and c, the surer at c, which has no link to a: c joins after
        // b has filled the pass between.
        let routes = trace_routes(
            vec![
                seen("ZG880TV", "a", 0),
                PlateSighting {
                    confidence: 0.34,
                    ..unsure("ZG880TV", "b", 100)
                },
                PlateSighting {
                    confidence: 0.41,
                    ..unsure("ZG880TV", "c", 200)
                },
            ],
            &corridor(),
        );
        assert_eq!(
            plates_and_cameras(&routes),
            vec![("ZG880TV", vec!["a", "b", "c"])]
        );
    }

    #[test]
    fn a_candidate_at_a_camera_the_route_has_is_the_same_pass() {
        let routes = trace_routes(
            vec![
                seen("30A99999", "a", 0),
                unsure("30A99998", "a", 5),
                seen("30A99999", "b", 100),
                unsure("30A99999", "b", 104),
            ],
            &corridor(),
        );
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].cameras(), ["a", "b"]);
        assert!(
            routes[0].sightings.iter().all(|s| s.confidence == 0.9),
            "the sure reads stay: {routes:?}"
        );
    }

    #[test]
    fn without_links_the_time_gap_decides() {
        let settings = RouteSettings::default();
        let routes = trace_routes(
            vec![
                seen("59L214999", "x", 0),
                seen("59L214999", "y", 600),
                seen("59L214999", "z", 600 + 1801),
            ],
            &settings,
        );
        assert_eq!(
            routes.iter().map(Route::cameras).collect::<Vec<_>>(),
            vec![vec!["x", "y"], vec!["z"]]
        );
        assert!(!routes[0].legs[0].on_link);
    }
}
