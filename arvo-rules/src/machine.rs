//! The rules both `ArvoMachine::build` and `#[arvo_machine]` apply, so that a machine the
//! macro accepts is one the runtime builds: eventless (`always`) transitions may not loop
//! endlessly, and states nest at most [`MAX_STATE_DEPTH`] levels deep.

/// How many levels of states a machine may nest: a top-level state is at level 1, its child
/// at level 2, and so on. Statecharts written by hand stay far below it (XState's examples nest
/// three or four levels); the limit keeps every walk of the state tree (building, entering and
/// leaving states, snapshots, the diagram) within a thread's stack, and a stored snapshot
/// within `serde_json`'s nesting limit of 128, whatever definition it is given.
pub const MAX_STATE_DEPTH: usize = 64;

/// A loop of states that eventless transitions leave for one another whatever their guards
/// decide, so that a machine entering one never settles; `None` when there is none.
///
/// `ways[s]` describes state `s`: `Some(states)` when it has an unguarded eventless transition,
/// `states` being where each candidate up to and including the first unguarded one takes it
/// (the state it settles in); `None` when it can stay (no unguarded transition, or a candidate
/// that leaves the set of states this rule follows). A state is in an endless loop when every
/// way leads to such states; the loop returned starts at the first of them and ends with it
/// again (`[a, b, a]`). Linear in the states and ways; an index out of range is a way out.
///
/// ```
/// // 0 -> 1 -> 0 loop; 2 -> 3, and 3 can stay.
/// let ways = [Some(vec![1]), Some(vec![0]), Some(vec![3]), None];
/// assert_eq!(arvo_rules::endless_loop(&ways), Some(vec![0, 1, 0]));
/// assert_eq!(arvo_rules::endless_loop(&[Some(vec![1]), None]), None);
/// ```
pub fn endless_loop(ways: &[Option<Vec<usize>>]) -> Option<Vec<usize>> {
    let n = ways.len();
    let mut endless: Vec<bool> = ways
        .iter()
        .map(|w| w.as_ref().is_some_and(|to| to.iter().all(|&j| j < n)))
        .collect();
    // Backwards from the states that can stay: who can reach one is no loop (each way once).
    let mut from: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, to) in ways.iter().enumerate() {
        for &j in to.iter().flatten().filter(|&&j| j < n) {
            from[j].push(i);
        }
    }
    let mut stays: Vec<usize> = (0..n).filter(|&i| !endless[i]).collect();
    while let Some(j) = stays.pop() {
        for &i in &from[j] {
            if endless[i] {
                endless[i] = false;
                stays.push(i);
            }
        }
    }
    // Every way of an endless state leads to another: follow the first until one repeats.
    let start = endless.iter().position(|&e| e)?;
    let mut at: Vec<Option<usize>> = vec![None; n];
    let mut path = vec![start];
    at[start] = Some(0);
    loop {
        let last = *path.last()?;
        let step = ways[last].as_ref()?.iter().copied().find(|&j| endless[j])?;
        if let Some(k) = at[step] {
            let mut cycle = path.split_off(k);
            cycle.push(step);
            return Some(cycle);
        }
        at[step] = Some(path.len());
        path.push(step);
    }
}

#[cfg(test)]
mod tests {
    use super::endless_loop;

    #[test]
    fn loops_and_ways_out() {
        // A state that leaves for itself.
        assert_eq!(endless_loop(&[Some(vec![0])]), Some(vec![0, 0]));
        // Every way back into the loop (1 can go to 0 or 2, both in it).
        let ways = [Some(vec![1]), Some(vec![0, 2]), Some(vec![1])];
        assert_eq!(endless_loop(&ways), Some(vec![0, 1, 0]));
        // One way out (1 may go to 3, which stays) and there is none.
        let ways = [Some(vec![1]), Some(vec![0, 3]), None, None];
        assert_eq!(endless_loop(&ways), None);
        // A chain into a loop: the loop is named, not the way in.
        let ways = [Some(vec![1]), Some(vec![2]), Some(vec![3]), Some(vec![2])];
        assert_eq!(endless_loop(&ways), Some(vec![2, 3, 2]));
        // Out of range is a way out, never a panic.
        assert_eq!(endless_loop(&[Some(vec![7])]), None);
        assert_eq!(endless_loop(&[]), None);
    }

    #[test]
    fn long_chains_and_rings() {
        let n = 100_000;
        let chain: Vec<Option<Vec<usize>>> =
            (0..n).map(|i| (i + 1 < n).then(|| vec![i + 1])).collect();
        assert_eq!(endless_loop(&chain), None);
        let ring: Vec<Option<Vec<usize>>> = (0..n).map(|i| Some(vec![(i + 1) % n])).collect();
        let cycle = endless_loop(&ring).unwrap_or_default();
        assert_eq!(cycle.len(), n + 1);
        assert_eq!((cycle[0], cycle[n]), (0, 0));
    }
}
