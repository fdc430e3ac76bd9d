//! Optimal assignment with a cost limit, as `lap.lapjv(cost, extend_cost=True, cost_limit=L)`.
//!
//! Each row is matched to at most one column and vice versa, minimising total cost, where leaving
//! a row or column unmatched costs `limit / 2` (so a pair is only worth matching below `limit`).
//! Pairs at or above the limit are never matched. The problem is split into the connected
//! components of its feasible pairs, each solved exactly with the Hungarian method (shortest
//! augmenting paths, O(n^3) in the component), so sparse scenes with hundreds of objects stay fast.

/// `(row, column)` pairs of an optimal assignment.
pub fn assign(
    rows: usize,
    columns: usize,
    cost: &dyn Fn(usize, usize) -> Option<f64>,
    limit: f64,
) -> Vec<(usize, usize)> {
    // Feasible edges.
    let mut edges: Vec<(usize, usize, f64)> = Vec::new();
    for row in 0..rows {
        for column in 0..columns {
            if let Some(c) = cost(row, column) {
                if c < limit {
                    edges.push((row, column, c));
                }
            }
        }
    }
    assign_edges(rows, columns, &edges, limit)
}

/// [`assign`] over an explicit list of feasible `(row, column, cost)` edges (costs below `limit`).
pub fn assign_edges(
    rows: usize,
    columns: usize,
    edges: &[(usize, usize, f64)],
    limit: f64,
) -> Vec<(usize, usize)> {
    // Union-find over rows (0..rows) and columns (rows..rows+columns).
    let mut parent: Vec<usize> = (0..rows + columns).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for &(row, column, _) in edges {
        let (a, b) = (find(&mut parent, row), find(&mut parent, rows + column));
        if a != b {
            parent[a] = b;
        }
    }
    // Feasible edges grouped by the component they belong to.
    let mut components: std::collections::HashMap<usize, Vec<(usize, usize, f64)>> =
        std::collections::HashMap::new();
    for &(row, column, c) in edges {
        let root = find(&mut parent, row);
        components.entry(root).or_default().push((row, column, c));
    }
    let mut matches = Vec::new();
    for component_edges in components.into_values() {
        let mut component_rows: Vec<usize> = component_edges.iter().map(|e| e.0).collect();
        let mut component_columns: Vec<usize> = component_edges.iter().map(|e| e.1).collect();
        component_rows.sort_unstable();
        component_rows.dedup();
        component_columns.sort_unstable();
        component_columns.dedup();
        if component_edges.len() == 1 {
            matches.push((component_edges[0].0, component_edges[0].1));
            continue;
        }
        let row_index = |r: usize| component_rows.binary_search(&r).unwrap_or(0);
        let column_index = |c: usize| component_columns.binary_search(&c).unwrap_or(0);
        let (n, m) = (component_rows.len(), component_columns.len());
        let mut local = vec![f64::INFINITY; n * m];
        for &(row, column, c) in &component_edges {
            local[row_index(row) * m + column_index(column)] = c;
        }
        for (r, c) in solve_with_limit(n, m, &local, limit) {
            matches.push((component_rows[r], component_columns[c]));
        }
    }
    matches.sort_unstable();
    matches
}

/// Exact assignment of an `n x m` cost matrix (row-major, infinite = forbidden) where leaving
/// a row or column unmatched costs `limit / 2`.
fn solve_with_limit(n: usize, m: usize, cost: &[f64], limit: f64) -> Vec<(usize, usize)> {
    // Square extension of size n + m:
    //   [ C            | limit/2 on the diagonal ]
    //   [ limit/2 diag | 0                       ]
    let size = n + m;
    let forbidden = 1e12;
    let half = limit / 2.0;
    let at = |i: usize, j: usize| -> f64 {
        match (i < n, j < m) {
            (true, true) => {
                let c = cost[i * m + j];
                if c.is_finite() {
                    c
                } else {
                    forbidden
                }
            }
            (true, false) => {
                if j - m == i {
                    half
                } else {
                    forbidden
                }
            }
            (false, true) => {
                if i - n == j {
                    half
                } else {
                    forbidden
                }
            }
            (false, false) => 0.0,
        }
    };
    let column_of_row = hungarian(size, &at);
    column_of_row
        .iter()
        .enumerate()
        .filter(|&(i, &j)| i < n && j < m && cost[i * m + j].is_finite() && cost[i * m + j] < limit)
        .map(|(i, &j)| (i, j))
        .collect()
}

/// Hungarian method on a square `size x size` matrix; returns the column assigned to each row.
fn hungarian(size: usize, cost: &dyn Fn(usize, usize) -> f64) -> Vec<usize> {
    // Potentials and matching with 1-based sentinel column 0 (shortest augmenting paths).
    let mut u = vec![0.0f64; size + 1];
    let mut v = vec![0.0f64; size + 1];
    let mut row_of_column = vec![0usize; size + 1];
    let mut way = vec![0usize; size + 1];
    for row in 1..=size {
        row_of_column[0] = row;
        let mut column0 = 0usize;
        let mut min_to = vec![f64::INFINITY; size + 1];
        let mut used = vec![false; size + 1];
        loop {
            used[column0] = true;
            let row0 = row_of_column[column0];
            let mut delta = f64::INFINITY;
            let mut column1 = 0usize;
            for column in 1..=size {
                if used[column] {
                    continue;
                }
                let reduced = cost(row0 - 1, column - 1) - u[row0] - v[column];
                if reduced < min_to[column] {
                    min_to[column] = reduced;
                    way[column] = column0;
                }
                if min_to[column] < delta {
                    delta = min_to[column];
                    column1 = column;
                }
            }
            for column in 0..=size {
                if used[column] {
                    u[row_of_column[column]] += delta;
                    v[column] -= delta;
                } else {
                    min_to[column] -= delta;
                }
            }
            column0 = column1;
            if row_of_column[column0] == 0 {
                break;
            }
        }
        loop {
            let column1 = way[column0];
            row_of_column[column0] = row_of_column[column1];
            column0 = column1;
            if column0 == 0 {
                break;
            }
        }
    }
    let mut column_of_row = vec![0usize; size];
    for column in 1..=size {
        if row_of_column[column] > 0 {
            column_of_row[row_of_column[column] - 1] = column - 1;
        }
    }
    column_of_row
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimum total cost over all partial matchings, by brute force (unmatched = limit / 2).
    fn brute_force(n: usize, m: usize, cost: &[f64], limit: f64) -> f64 {
        fn go(
            row: usize,
            n: usize,
            m: usize,
            cost: &[f64],
            limit: f64,
            used: &mut Vec<bool>,
        ) -> f64 {
            if row == n {
                let unmatched_columns = used.iter().filter(|u| !**u).count();
                return unmatched_columns as f64 * limit / 2.0;
            }
            let mut best = limit / 2.0 + go(row + 1, n, m, cost, limit, used);
            for column in 0..m {
                let c = cost[row * m + column];
                if !used[column] && c < limit {
                    used[column] = true;
                    best = best.min(c + go(row + 1, n, m, cost, limit, used));
                    used[column] = false;
                }
            }
            best
        }
        go(0, n, m, cost, limit, &mut vec![false; m])
    }

    fn total(matches: &[(usize, usize)], n: usize, m: usize, cost: &[f64], limit: f64) -> f64 {
        let matched: f64 = matches.iter().map(|&(r, c)| cost[r * m + c]).sum();
        matched
            + (n - matches.len()) as f64 * limit / 2.0
            + (m - matches.len()) as f64 * limit / 2.0
    }

    #[test]
    fn matches_brute_force_on_random_small_problems() {
        let mut state = 0x1234_5678_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..300 {
            let n = 1 + (random() * 5.0) as usize;
            let m = 1 + (random() * 5.0) as usize;
            let cost: Vec<f64> = (0..n * m)
                .map(|_| {
                    if random() < 0.3 {
                        f64::INFINITY
                    } else {
                        random()
                    }
                })
                .collect();
            let limit = 0.8;
            let matches = assign(
                n,
                m,
                &|r, c| Some(cost[r * m + c]).filter(|v| v.is_finite()),
                limit,
            );
            let got = total(&matches, n, m, &cost, limit);
            let want = brute_force(n, m, &cost, limit);
            assert!(
                (got - want).abs() < 1e-9,
                "{n}x{m} {cost:?}: {got} vs {want}"
            );
            let mut rows: Vec<_> = matches.iter().map(|m| m.0).collect();
            let mut columns: Vec<_> = matches.iter().map(|m| m.1).collect();
            rows.dedup();
            columns.sort_unstable();
            columns.dedup();
            assert_eq!(rows.len(), matches.len());
            assert_eq!(columns.len(), matches.len());
        }
    }

    #[test]
    fn pairs_at_or_above_the_limit_are_never_matched() {
        let cost = [0.9, 0.95];
        let matches = assign(1, 2, &|r, c| Some(cost[r * 2 + c]), 0.8);
        assert!(matches.is_empty());
    }

    #[test]
    fn prefers_the_globally_cheaper_assignment_over_the_greedy_one() {
        // Greedy takes (0,0)=0.1 and leaves row 1 with only 0.75; optimal: (0,1)+(1,0) = 0.4.
        let cost = [0.1, 0.2, 0.2, 0.75];
        let matches = assign(2, 2, &|r, c| Some(cost[r * 2 + c]), 0.8);
        assert_eq!(matches, vec![(0, 1), (1, 0)]);
    }
}
