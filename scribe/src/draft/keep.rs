//! Which units a draft keeps: the sentence budget, the spread over the session, the gates
//! that keep small talk and unprompted safety boilerplate out, and the blending of each turn's
//! kinds of content with its neighbours'.

use super::units::Unit;
use super::{UnitReport, select};

/// Least salience for a unit to be kept.
const SALIENCE_THRESHOLD: f32 = 0.45;
/// How much less like note content than like small talk a unit may be and still be kept
/// (cosine difference; 95% of gold-cited units pass, 10% of the rest do not).
const MIN_CLINICAL_MARGIN: f32 = -0.05;
/// Units this close (in cues) to a kept one are considered after the rest.
const NEIGHBOUR_CUES: usize = 2;

/// Most sentences a conversation's draft keeps: a dozen, plus one for every five turns and at
/// most four for every five minutes (fast small talk has many short turns and little to note),
/// levelling off past 300 turns (about an hour), so a note summarises rather than repeats the
/// session and a three-hour session is still covered to its end. Untimed transcripts (plain
/// `Speaker: text` lines) are budgeted by turns alone.
fn sentence_budget(cues: usize, minutes: u64) -> usize {
    let by_turns = 12 + cues / 5;
    let by_time = if minutes == 0 { usize::MAX } else { 12 + usize::try_from(minutes * 4 / 5).unwrap_or(usize::MAX) };
    by_turns.min(by_time).min(52 + cues.saturating_sub(300) / 10)
}

/// The units a draft keeps, in transcript order: in a dictation everything dictated; in a
/// conversation the most salient units over the threshold, within the budget, spread over the
/// session (a unit next to one already kept waits until every other candidate has had its
/// turn, so one topic cannot fill the note), and always the units that carry a risk flag's
/// evidence. A clinician's self-harm screening and safety advice is left out when nobody
/// disclosed such a risk: a note states disclosures, and the risk flags say what was found.
pub(super) fn choose(units: &[Unit], reports: &[UnitReport], cues: usize, minutes: u64, dictation: bool, self_harm_flagged: bool) -> Vec<usize> {
    if dictation {
        return (0..units.len()).collect();
    }
    let mut ranked: Vec<usize> = (0..units.len())
        .filter(|&i| {
            let f = &reports[i].features;
            // More like small talk than like any note's content: not note content, however wordy.
            let clinical_margin = f[select::CLINICAL_SIM] - f[select::SMALL_TALK_SIM];
            reports[i].salience >= SALIENCE_THRESHOLD
                && clinical_margin > MIN_CLINICAL_MARGIN
                && (!units[i].safety_talk || self_harm_flagged)
        })
        .collect();
    ranked.sort_by(|&a, &b| reports[b].salience.total_cmp(&reports[a].salience));
    let budget = sentence_budget(cues, minutes);
    let main_cue = |i: usize| *units[i].evidence.last().expect("a unit cites its own cue");
    let mut kept: Vec<usize> = Vec::with_capacity(budget);
    let mut waiting = Vec::new();
    for &i in &ranked {
        if kept.len() == budget {
            break;
        }
        if kept.iter().any(|&k| main_cue(k).abs_diff(main_cue(i)) <= NEIGHBOUR_CUES) {
            waiting.push(i);
        } else {
            kept.push(i);
        }
    }
    kept.extend(waiting.into_iter().take(budget.saturating_sub(kept.len())));
    for (i, r) in reports.iter().enumerate() {
        if r.features[select::RISK] > 0.0 && !kept.contains(&i) {
            kept.push(i);
        }
    }
    kept.sort_unstable();
    kept
}

/// Weight of a unit's own kinds against its neighbours' when the turns of one exchange are
/// read together (an answer inside an exercise belongs with the exercise).
const OWN_KIND_WEIGHT: f32 = 0.6;

/// Blends each unit's kinds of content with those of the adjacent turns (within
/// [`NEIGHBOUR_CUES`]): the turns of one exchange usually belong in one section.
pub(super) fn smooth_kinds(units: &[Unit], reports: &mut [UnitReport]) {
    let own: Vec<[f32; 7]> = reports.iter().map(|r| r.kinds).collect();
    let main_cue = |i: usize| *units[i].evidence.last().expect("a unit cites its own cue");
    for i in 0..units.len() {
        if units[i].spoken_kind.is_some() {
            continue;
        }
        let neighbours: Vec<usize> = [i.checked_sub(1), Some(i + 1)]
            .into_iter()
            .flatten()
            .filter(|&j| j < units.len() && main_cue(i).abs_diff(main_cue(j)) <= NEIGHBOUR_CUES)
            .collect();
        if neighbours.is_empty() {
            continue;
        }
        let share = (1.0 - OWN_KIND_WEIGHT) / neighbours.len() as f32;
        let mut blended = own[i].map(|p| p * OWN_KIND_WEIGHT);
        for j in neighbours {
            for (b, p) in blended.iter_mut().zip(own[j]) {
                *b += share * p;
            }
        }
        reports[i].kinds = blended;
    }
}
