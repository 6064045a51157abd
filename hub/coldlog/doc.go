// Package coldlog is the temperature log of the cold rooms: for a room and
// a period it records each probe's readings at the recording cadence the
// cold-chain rules ask for, computes the figures an auditor checks (min,
// max, mean, mean kinetic temperature, time out of range, excursions, gaps
// in the data) and exports them as CSV for a spreadsheet and as a printable
// A4 page.
//
// # How the figures are computed
//
// The log is a step function: each reading stands for the room from its
// time until the next reading, for at most Params.MaxGap (5 minutes by
// default, the longest the rules let a log go without a reading). Time that
// no reading stands for is a gap and is reported as one, never filled in:
// between two readings further apart than MaxGap, the gap starts MaxGap
// after the first. At the start of the period the first reading also
// stands for the time since Params.From when that is no longer than MaxGap,
// so a log with a reading every 5 minutes covers its whole period. The
// time each reading stands for is its weight: the readings' weights and the
// gaps add up to the period.
//
//   - Mean and MKT are weighted by that time. The log is recorded every
//     minute while out of range and every 5 minutes otherwise, so a plain
//     average of the readings would count an excursion five times over.
//     MKT = (ΔH/R) / −ln(Σ wᵢ·e^(−(ΔH/R)/Tᵢ) / Σ wᵢ) − 273.15, with Tᵢ in
//     kelvin and ΔH/R = 10000 K; with equal weights it is the usual
//     formula. The CSV export has each reading's weight, so a spreadsheet
//     reproduces both.
//   - A reading is in range when Low ≤ value ≤ High: a reading exactly at a
//     limit is in range.
//   - An excursion is a run of readings beyond the same limit with no gap
//     inside. It starts at the first reading beyond the limit and ends at
//     the first reading back in range; if the data stops first it ends
//     where the gap starts (EndsInGap), and at the end of the period it is
//     Ongoing. Its duration is the time its readings stand for, and the
//     time out of range is the sum of the excursions' durations.
//   - Min, max and the excursions' peaks are readings of the log.
//   - A report is compliant only when there is data, no excursion and no
//     gap.
//
// # Recording
//
// The edge polls its probes every 10 seconds and the hub stores every
// reading. Record turns these into the log at the recording cadence: a
// reading at least every 5 minutes, and every minute while out of range,
// keeping every reading that crosses a limit, each excursion's peak and the
// period's extremes, so that thinning loses none of the figures above.
// Where the stored data is sparser than the cadence the log keeps what
// there is, and Compute reports it: as a gap beyond MaxGap, and as Sparse
// when readings out of range are further apart than a minute.
//
// # Probes
//
// A room may have several probes (a transmitter and the controller's room
// probe both report "temperature"), and readings of different probes must
// not be merged into one series: their alternation would read as the room
// going in and out of range. A Source returns one Series per device and
// the log has a section per probe.
package coldlog
