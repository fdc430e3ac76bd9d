//! Questions answered from the store, shared by the HTTP API and the command line.

use roadsight_core::plate_match::{bottom_row_reads, normalise_plate};
use roadsight_core::{RoutesConfig, Timestamp};
use roadsight_store::{CameraWindow, EventStore, PlateMatch, SightingQuery, StoreError};
use roadsight_tracking::routes::{
    od_matrix, pass_windows, trace_routes, travel_times, OdCell, PlateSighting, Route, TravelTime,
};
use serde::Serialize;
use std::collections::HashSet;

/// Sightings read per plate at most for one trace.
pub const TRACE_SIGHTINGS_LIMIT: usize = 20_000;

/// Where a plate went in a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlateTrace {
    /// The plate asked about, normalised.
    pub plate: String,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// The plates the trace drew on: the plate itself and reads one edit away.
    pub matched_plates: Vec<FoundPlate>,
    /// Its routes, oldest first, each with its sightings (and their evidence) and legs.
    pub routes: Vec<Route>,
    /// Sightings in all routes.
    pub sightings: usize,
}

/// A plate found by fuzzy search, as an officer sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundPlate {
    #[serde(flatten)]
    pub found: PlateMatch,
    /// Every read of this text was below `[routes] anchor_confidence`: it is only an unsure
    /// reading of some vehicle's plate, never a sure one.
    pub candidate: bool,
}

/// Plates within one edit of `plate` seen in the window, nearest first, at most `limit_to`,
/// each marked when it was only ever read as a candidate.
pub fn search_plates(
    store: &mut dyn EventStore,
    plate: &str,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit_to: usize,
    settings: &RoutesConfig,
) -> Result<Vec<FoundPlate>, StoreError> {
    Ok(store
        .search_plates(plate, from, to, limit_to)?
        .into_iter()
        .map(|found| FoundPlate {
            candidate: settings.is_candidate(found.best_confidence),
            found,
        })
        .collect())
}

fn as_route_input(sighting: roadsight_store::Sighting) -> PlateSighting {
    PlateSighting {
        plate: sighting.plate,
        camera: sighting.camera,
        at: sighting.at,
        confidence: sighting.confidence,
        event_id: sighting.event_id,
        evidence: sighting.evidence,
        candidate: false,
        appearance: sighting.appearance,
        appearance_distance: None,
    }
}

/// The routes of `plate` between `from` and `to`: its own sightings and, when `settings.fuzzy`,
/// those of plates one edit away and of its bottom row read alone that fit its trips.
pub fn trace_plate(
    store: &mut dyn EventStore,
    plate: &str,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    settings: &RoutesConfig,
) -> Result<PlateTrace, StoreError> {
    let plate = normalise_plate(plate);
    let mut matched_plates = search_plates(store, &plate, from, to, 50, settings)?;
    if !settings.fuzzy {
        matched_plates.retain(|m| m.found.plate == plate);
    }
    // And, when fuzzy, the plate's bottom row read alone (`29969` for `59S229969`), which
    // route tracing joins to its trips like a plate one edit away.
    let mut plates_read: Vec<String> = matched_plates
        .iter()
        .map(|matched| matched.found.plate.clone())
        .collect();
    if settings.fuzzy {
        for read in bottom_row_reads(&plate) {
            if !plates_read.iter().any(|p| p == read) {
                plates_read.push(read.to_string());
            }
        }
    }
    let mut sightings = Vec::new();
    for plate_read in plates_read {
        let found = store.sightings(&SightingQuery {
            plate: plate_read,
            from,
            to,
            limit: TRACE_SIGHTINGS_LIMIT,
        })?;
        sightings.extend(found.into_iter().map(as_route_input));
    }
    let of_the_plate =
        |route: &Route| route.plate == plate || route.sightings.iter().any(|s| s.plate == plate);
    // The passes beside the sightings of the plate's own routes only (a look-alike plate's
    // sightings are most of what fuzzy matching loads, and rarely join them), then the
    // routes again with those passes; and again beside the passes that joined, so a route
    // read at km0 alone reaches the passes at km05 and then km10, as origin-destination's
    // routes (which read every pass in their window) do. The windows are the ones route
    // tracing names (`pass_windows`: one link out from each sighting, where the route has no
    // sighting yet), each read once and all of a round's in one store read
    // (`EventStore::passes_in`); a round with no new window or no new pass ends it, and there
    // is at most one round per configured link.
    let mut routes: Vec<Route> = trace_routes(sightings.clone(), settings)
        .into_iter()
        .filter(of_the_plate)
        .collect();
    let mut windows_read: HashSet<(&str, Timestamp, Timestamp)> = HashSet::new();
    let mut passes_read: HashSet<String> = HashSet::new();
    for _round in 0..settings.links.len().clamp(1, PASS_ROUNDS_MAX) {
        let own: Vec<&PlateSighting> = routes
            .iter()
            .flat_map(|route| route.sightings.iter())
            .collect();
        let windows: Vec<CameraWindow> = pass_windows(&own, settings)
            .into_iter()
            .filter(|&window| windows_read.insert(window))
            .map(|(camera, from, to)| CameraWindow {
                camera: camera.to_string(),
                from,
                to,
            })
            .collect();
        if windows.is_empty() {
            break;
        }
        let passes: Vec<PlateSighting> = store
            .passes_in(&windows, TRACE_SIGHTINGS_LIMIT)?
            .into_iter()
            .filter(|pass| passes_read.insert(pass.event_id.clone()))
            .map(as_route_input)
            .collect();
        if passes.is_empty() {
            break;
        }
        sightings.extend(passes);
        routes = trace_routes(sightings.clone(), settings)
            .into_iter()
            .filter(of_the_plate)
            .collect();
    }
    let sightings = routes.iter().map(|r| r.sightings.len()).sum();
    Ok(PlateTrace {
        plate,
        from,
        to,
        matched_plates,
        routes,
        sightings,
    })
}

/// Rounds of pass reads a trace makes at most (see [`trace_plate`]).
const PASS_ROUNDS_MAX: usize = 8;

/// Origin-destination trips and travel times in a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginDestination {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub interval_s: u64,
    pub routes: usize,
    pub cells: Vec<OdCell>,
    pub travel_times: Vec<TravelTime>,
}

/// Sightings read at most for one origin-destination answer.
pub const OD_SIGHTINGS_LIMIT: usize = 2_000_000;

/// Traces every plate seen in the window and counts trips per origin, destination and interval.
pub fn origin_destination(
    store: &mut dyn EventStore,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    interval_s: u64,
    settings: &RoutesConfig,
) -> Result<OriginDestination, StoreError> {
    let sightings = store
        .sightings_between(from, to, OD_SIGHTINGS_LIMIT)?
        .into_iter()
        .map(as_route_input)
        .collect();
    let routes = trace_routes(sightings, settings);
    Ok(OriginDestination {
        from,
        to,
        interval_s,
        routes: routes.len(),
        cells: od_matrix(&routes, interval_s),
        travel_times: travel_times(&routes),
    })
}
